"""Writes a Vertex AI training job for a pipeline.config and prints the commands to submit it.

    bazel run //od_tools:cloud_job -- --project=my-proj --region=us-central1 --bucket=my-bucket \
        --pipeline_config_path=pipeline.config --accelerator=gpu --workers=4

The config is checked first (preflight, and every data path must be on gs://), and refused with
all its problems listed. Then cloud_jobs/<job name>/ gets `job.yaml` (the CustomJobSpec:
worker pools, machines, package URIs, `python -m od_tools.train` and its arguments) and the
`pipeline.config` the job trains with. Several workers become a chief pool and a worker pool,
and Vertex AI's TF_CONFIG makes the trainer use MultiWorkerMirroredStrategy. Nothing is sent
to the cloud: the printed `gcloud` commands upload the packages and config and submit the job.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from absl import flags

from od_tools.common import cli
from od_tools.config.flags import define_pipeline_flags

FLAGS = flags.FLAGS

define_pipeline_flags()
flags.DEFINE_string("project", None, "Google Cloud project.", required=True)
flags.DEFINE_string("region", None, "Vertex AI region, e.g. us-central1.", required=True)
flags.DEFINE_string("bucket", None, "Bucket (name or gs://bucket[/prefix]) for packages, config and outputs.",
                    required=True)
flags.DEFINE_enum("accelerator", "cpu", ["cpu", "gpu", "tpu"], "What each worker trains on.")
flags.DEFINE_integer("workers", 1, "Machines; more than one trains with MultiWorkerMirroredStrategy.",
                     lower_bound=1)
flags.DEFINE_string("job_name", None, "Job name (default: the config's file name and the packages' digest).")
flags.DEFINE_string("machine_type", "", "Machine type (default: n1-standard-8; cloud-tpu for TPUs).")
flags.DEFINE_string("accelerator_type", "", "Vertex AI accelerator type (default: NVIDIA_TESLA_T4 / TPU_V3).")
flags.DEFINE_integer("gpus_per_worker", 1, "GPUs per worker with --accelerator=gpu.", lower_bound=1)
flags.DEFINE_string("executor_image_uri", "", "Training image the packages are installed into "
                    "(default: Vertex AI's prebuilt TensorFlow image for the accelerator).")
flags.DEFINE_string("service_account", "", "Service account the job runs as.")
flags.DEFINE_multi_string("trainer_arg", [], "Extra flag for od_tools.train, e.g. --trainer_arg=--checkpoint_every_n=500.")
flags.DEFINE_string("packages_dir", None, "Built //od_tools:cloud_packages folder (default: the one this "
                    "tool was built with).")
flags.DEFINE_string("output_dir", None, "Where job.yaml and pipeline.config go (default: cloud_jobs/<job name>).")
flags.DEFINE_bool("check_remote_paths", True, "List the config's gs:// paths during preflight (needs access "
                  "to the bucket); --nocheck_remote_paths takes them on trust.")


def _default_packages_dir() -> Path:
    """The package set this tool was built with, by its bazel-bin path when that is the same one.

    `bazel run` puts it in the tool's runfiles; the printed upload command reads better with the
    workspace's `bazel-bin/od_tools/cloud_packages`, which holds the same files after the build.
    """
    runfiles = Path(os.path.abspath(__file__)).parent / "cloud_packages"
    workspace = os.environ.get("BUILD_WORKSPACE_DIRECTORY")
    if workspace:
        built = Path(workspace) / "bazel-bin" / "od_tools" / "cloud_packages"
        same = (built / "SHA256SUMS").is_file() and (runfiles / "SHA256SUMS").is_file() and \
            (built / "SHA256SUMS").read_bytes() == (runfiles / "SHA256SUMS").read_bytes()
        if same:
            return built
    return runfiles


def _job_name(config_path: str, digest: str) -> str:
    stem = re.sub(r"[^a-z0-9_-]+", "-", Path(config_path).stem.lower()).strip("-_") or "job"
    if not stem[0].isalpha():
        stem = "job-" + stem
    return f"{stem[:40]}-{digest[:8]}"


def main(argv: Sequence[str]) -> None:
    del argv  # cli.run refuses words that are not flags
    from od_tools.cloud.plan import plan_job, write_plan  # TensorFlow and the OD API load after flags

    config_path = cli.workspace_path(FLAGS.pipeline_config_path)
    packages_dir = Path(cli.workspace_path(FLAGS.packages_dir)) if FLAGS.packages_dir else _default_packages_dir()
    plan = plan_job(
        config_path=config_path,
        overrides=FLAGS.override,
        strict=FLAGS.strict,
        check_remote=FLAGS.check_remote_paths,
        packages_dir=packages_dir,
        bucket=FLAGS.bucket,
        job_name=FLAGS.job_name or "",
        default_job_name=lambda digest: _job_name(config_path, digest),
        accelerator=FLAGS.accelerator,
        workers=FLAGS.workers,
        machine_type=FLAGS.machine_type,
        accelerator_type=FLAGS.accelerator_type,
        gpus_per_worker=FLAGS.gpus_per_worker,
        executor_image_uri=FLAGS.executor_image_uri,
        service_account=FLAGS.service_account,
        trainer_args=FLAGS.trainer_arg,
    )
    output_dir = Path(cli.workspace_path(FLAGS.output_dir or os.path.join("cloud_jobs", plan.request.display_name)))
    cwd = os.environ.get("BUILD_WORKING_DIRECTORY", "")
    commands = write_plan(plan, output_dir, FLAGS.project, FLAGS.region, cwd)
    shown = os.path.relpath(output_dir, cwd) if cwd else str(output_dir)
    print(f"Wrote {shown}/job.yaml and {shown}/pipeline.config "
          f"({plan.request.workers} x {plan.request.accelerator} worker(s), model_dir {plan.layout.model_dir}).")
    print("Upload the packages and the config, then submit:")
    for command in commands:
        print("  " + command)


if __name__ == "__main__":
    cli.run(main)
