"""A checked job plan, written as files: the part of `cloud_job` that is not flag parsing."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Sequence

import yaml

from od_tools.cloud.job import (BucketLayout, PackageSet, bucket_uri, local_path_problems, num_replicas,
                                submit_command, upload_commands)
from od_tools.cloud.vertex import JobRequest, check_request, custom_job_spec
from od_tools.common.files import atomic_dir
from od_tools.config.pipeline import format_pipeline
from od_tools.config.prepare import PreflightError, load_pipeline, prepare
from od_tools.config.preflight import Checks, Purpose


@dataclasses.dataclass(frozen=True)
class JobPlan:
    request: JobRequest
    layout: BucketLayout
    packages: PackageSet
    spec: dict
    pipeline_text: str


def plan_job(*, config_path: str, overrides: Sequence[str], strict: bool, check_remote: bool,
             packages_dir: Path, bucket: str, job_name: str, default_job_name: Callable[[str], str],
             accelerator: str, workers: int, machine_type: str = "", accelerator_type: str = "",
             gpus_per_worker: int = 1, executor_image_uri: str = "", service_account: str = "",
             trainer_args: Sequence[str] = ()) -> JobPlan:
    """Checks the config for a cloud run (raising every problem at once) and lays the job out."""
    packages = PackageSet.read(packages_dir)
    layout = BucketLayout(bucket_uri(bucket), job_name or default_job_name(packages.digest))
    request = JobRequest(
        display_name=layout.job_name,
        accelerator=accelerator,  # type: ignore[arg-type]
        workers=workers,
        package_uris=layout.package_uris(packages),
        trainer_args=(f"--pipeline_config_path={layout.config_uri}", f"--model_dir={layout.model_dir}",
                      *trainer_args),
        base_output_dir=layout.job_dir,
        executor_image_uri=executor_image_uri,
        machine_type=machine_type,
        accelerator_type=accelerator_type,
        accelerators_per_worker=gpus_per_worker,
        service_account=service_account,
    )
    check_request(request)

    cloud_problems = [str(p) for p in local_path_problems(load_pipeline(config_path, overrides))]
    checks = Checks(Purpose.TRAIN, num_replicas=num_replicas(request), use_tpu=accelerator == "tpu",
                    remote=check_remote)
    try:
        prepared = prepare(config_path, overrides, checks=checks, strict=strict)
    except PreflightError as e:
        raise PreflightError(config_path, [*cloud_problems, *e.problems]) from None
    if cloud_problems:
        raise PreflightError(config_path, cloud_problems)
    return JobPlan(request, layout, packages, custom_job_spec(request), format_pipeline(prepared.pipeline.config))


def write_plan(plan: JobPlan, output_dir: Path, project: str, region: str, cwd: str = "") -> list[str]:
    """Writes job.yaml and pipeline.config (all or nothing); returns the commands to run from `cwd`."""
    with atomic_dir(output_dir) as tmp:
        (tmp / "job.yaml").write_text(yaml.safe_dump(plan.spec, sort_keys=False, width=1000))
        (tmp / "pipeline.config").write_text(plan.pipeline_text)
    return [*upload_commands(plan.layout, plan.packages, output_dir / "pipeline.config", cwd),
            submit_command(project, region, plan.request, output_dir / "job.yaml", cwd)]
