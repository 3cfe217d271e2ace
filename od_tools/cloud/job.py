"""Plans a Vertex AI training job: where everything goes in the bucket, the spec, the commands.

Nothing here talks to the cloud. A plan is the CustomJobSpec (`job.yaml`), the pipeline.config
the job trains with (overrides applied, so the job needs no override flags), and the exact
`gcloud` commands that upload the packages and the config and submit the job.

Bucket layout (content-addressed packages, so jobs of different builds never mix them up):
    gs://BUCKET/od_toolchain/packages/<sha256 of SHA256SUMS, 12 hex>/<package files>
    gs://BUCKET/od_toolchain/jobs/<job name>/pipeline.config
    gs://BUCKET/od_toolchain/jobs/<job name>/model/     checkpoints, TensorBoard, metrics
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shlex
from pathlib import Path

from od_tools.cloud.vertex import JobRequest, gcloud_command
from od_tools.common.errors import UserError
from od_tools.common.files import is_url
from od_tools.config.pipeline import Pipeline
from od_tools.config.preflight import Problem

# Installed in this order: the trainer last, once what it needs is there.
NOT_PACKAGES = ("SHA256SUMS", "build-requirements.txt", "requirements.txt")


def bucket_uri(bucket: str) -> str:
    """`my-bucket` or `gs://my-bucket[/prefix]` as a gs:// URI with no trailing slash."""
    uri = bucket if bucket.startswith("gs://") else f"gs://{bucket}"
    uri = uri.rstrip("/")
    if uri == "gs:" or uri == "gs://" or "://" in uri[5:]:
        raise UserError(f"--bucket={bucket}: expected a bucket name or gs://bucket[/prefix]")
    return uri


@dataclasses.dataclass(frozen=True)
class PackageSet:
    """The files of //od_tools:cloud_packages, in install order, and their digest."""

    folder: Path
    files: tuple[str, ...]
    digest: str

    @classmethod
    def read(cls, folder: Path) -> "PackageSet":
        sums = folder / "SHA256SUMS"
        if not sums.is_file():
            raise UserError(f"{folder}: no SHA256SUMS, so not a cloud package set; build it with "
                            "`bazel build //od_tools:cloud_packages` and pass --packages_dir")
        names = [line.split("  ", 1)[1] for line in sums.read_text().splitlines() if "  " in line]
        packages = sorted((n for n in names if n not in NOT_PACKAGES), key=lambda n: (n.startswith("od_tools-"), n))
        if not any(n.startswith("od_tools-") for n in packages):
            raise UserError(f"{folder}: no od_tools sdist in SHA256SUMS; rebuild //od_tools:cloud_packages")
        return cls(folder, tuple(packages), hashlib.sha256(sums.read_bytes()).hexdigest())


@dataclasses.dataclass(frozen=True)
class BucketLayout:
    bucket: str
    job_name: str

    @property
    def job_dir(self) -> str:
        return f"{self.bucket}/od_toolchain/jobs/{self.job_name}"

    @property
    def config_uri(self) -> str:
        return f"{self.job_dir}/pipeline.config"

    @property
    def model_dir(self) -> str:
        return f"{self.job_dir}/model"

    def packages_dir(self, packages: PackageSet) -> str:
        return f"{self.bucket}/od_toolchain/packages/{packages.digest[:12]}"

    def package_uris(self, packages: PackageSet) -> tuple[str, ...]:
        return tuple(f"{self.packages_dir(packages)}/{name}" for name in packages.files)


def local_path_problems(pipeline: Pipeline) -> list[Problem]:
    """Paths in the config that name this machine's files, which cloud workers cannot read."""
    config = pipeline.config
    fields: list[tuple[str, str]] = []
    readers = [("train_input_reader", config.train_input_reader)]
    readers += [(f"eval_input_reader[{i}]", r) for i, r in enumerate(config.eval_input_reader)]
    for name, reader in readers:
        if reader.label_map_path:
            fields.append((f"{name}.label_map_path", reader.label_map_path))
        paths = list(reader.tf_record_input_reader.input_path)
        for i, path in enumerate(paths):
            where = f"[{i}]" if len(paths) > 1 else ""
            fields.append((f"{name}.tf_record_input_reader.input_path{where}", path))
    if config.train_config.fine_tune_checkpoint:
        fields.append(("train_config.fine_tune_checkpoint", config.train_config.fine_tune_checkpoint))
    return [Problem(field, f"'{path}' is a path on this machine, which cloud workers cannot read",
                    f"copy it to your bucket (gcloud storage cp -r ...) and --override {field}=gs://...")
            for field, path in fields if not is_url(path)]


def num_replicas(request: JobRequest) -> int:
    """Replicas the global batch is split over: GPUs in all workers, a TPU's cores, or workers."""
    if request.accelerator == "gpu":
        return request.workers * request.accelerators_per_worker
    if request.accelerator == "tpu":
        return 8
    return request.workers


def upload_commands(layout: BucketLayout, packages: PackageSet, config_path: Path, cwd: str = "") -> list[str]:
    """`gcloud storage cp` of the packages and the config; local paths relative to `cwd` if given."""
    def shown(path: Path) -> str:
        return os.path.relpath(path, cwd) if cwd else str(path)

    files = [shown(packages.folder / name) for name in packages.files]
    return [
        shlex.join(["gcloud", "storage", "cp", *files, layout.packages_dir(packages) + "/"]),
        shlex.join(["gcloud", "storage", "cp", shown(config_path), layout.config_uri]),
    ]


def submit_command(project: str, region: str, request: JobRequest, spec_path: Path, cwd: str = "") -> str:
    return gcloud_command(project, region, request.display_name, os.path.relpath(spec_path, cwd) if cwd else str(spec_path))
