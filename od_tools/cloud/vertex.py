"""Vertex AI CustomJob specs for `python -m od_tools.train`, from a few choices.

One worker is one pool of one replica. N workers are a chief pool of one replica and a worker
pool of N-1: Vertex AI sets TF_CONFIG on every replica from that layout, and the trainer picks
MultiWorkerMirroredStrategy from TF_CONFIG, so the same packages and arguments run on one
machine or many. TPU jobs run on one TPU VM with TPUStrategy.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import shlex
from typing import Literal

from od_tools.cloud.vertex_schema import schema_errors
from od_tools.common.errors import UserError

Accelerator = Literal["cpu", "gpu", "tpu"]

TRAINER_MODULE = "od_tools.train"

# Prebuilt Vertex AI training images (Python 3.10); the trainer's requirements bring
# TensorFlow 2.20 and the patched Object Detection API on top. Override with --executor_image_uri.
DEFAULT_EXECUTOR_IMAGES: dict[str, str] = {
    "cpu": "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest",
    "gpu": "us-docker.pkg.dev/vertex-ai/training/tf-gpu.2-17.py310:latest",
    "tpu": "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest",
}
DEFAULT_MACHINE_TYPES: dict[str, str] = {"cpu": "n1-standard-8", "gpu": "n1-standard-8", "tpu": "cloud-tpu"}
DEFAULT_ACCELERATOR_TYPES: dict[str, str] = {"gpu": "NVIDIA_TESLA_T4", "tpu": "TPU_V3"}
TPU_CORES = 8

_JOB_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,127}$")


@dataclasses.dataclass(frozen=True)
class JobRequest:
    """What a user chooses; everything else in the spec follows from it."""

    display_name: str
    accelerator: Accelerator
    workers: int
    package_uris: tuple[str, ...]
    trainer_args: tuple[str, ...]
    base_output_dir: str
    executor_image_uri: str = ""
    machine_type: str = ""
    accelerator_type: str = ""
    accelerators_per_worker: int = 1
    service_account: str = ""


def check_request(request: JobRequest) -> None:
    if not _JOB_NAME.match(request.display_name):
        raise UserError(f"--job_name={request.display_name!r}: use lowercase letters, digits, '-' and '_', "
                        "starting with a letter")
    if request.workers < 1:
        raise UserError(f"--workers={request.workers}: at least one worker is needed")
    if request.accelerator == "tpu" and request.workers != 1:
        raise UserError(f"--workers={request.workers}: a TPU job runs on one TPU VM; use --workers=1 "
                        "(the TPU's cores are the replicas)")
    if request.accelerator == "gpu" and request.accelerators_per_worker < 1:
        raise UserError(f"--gpus_per_worker={request.accelerators_per_worker}: must be at least 1")
    if not request.base_output_dir.startswith("gs://"):
        raise UserError(f"{request.base_output_dir}: the job's output folder must be a gs:// path")
    for uri in request.package_uris:
        if not uri.startswith("gs://"):
            raise UserError(f"{uri}: package URIs must be gs:// paths that the job can read")


def machine_spec(request: JobRequest) -> dict:
    spec: dict = {"machineType": request.machine_type or DEFAULT_MACHINE_TYPES[request.accelerator]}
    if request.accelerator == "gpu":
        spec["acceleratorType"] = request.accelerator_type or DEFAULT_ACCELERATOR_TYPES["gpu"]
        spec["acceleratorCount"] = request.accelerators_per_worker
    elif request.accelerator == "tpu":
        spec["acceleratorType"] = request.accelerator_type or DEFAULT_ACCELERATOR_TYPES["tpu"]
        spec["acceleratorCount"] = TPU_CORES
    return spec


def trainer_args(request: JobRequest) -> list[str]:
    args = list(request.trainer_args)
    if request.accelerator == "tpu":
        # On a Vertex AI TPU VM the TPU is attached to the worker itself.
        args.append("--tpu=local")
    return args


def worker_pool_specs(request: JobRequest) -> list[dict]:
    python_package = {
        "executorImageUri": request.executor_image_uri or DEFAULT_EXECUTOR_IMAGES[request.accelerator],
        "packageUris": list(request.package_uris),
        "pythonModule": TRAINER_MODULE,
        "args": trainer_args(request),
    }
    pool = {"machineSpec": machine_spec(request), "replicaCount": 1, "pythonPackageSpec": python_package}
    pools = [pool]
    if request.workers > 1:
        # A copy, not the same objects: YAML would otherwise write anchors and aliases.
        pools.append(copy.deepcopy(dict(pool, replicaCount=request.workers - 1)))
    return pools


def custom_job_spec(request: JobRequest) -> dict:
    """The CustomJobSpec that `gcloud ai custom-jobs create --config` reads."""
    check_request(request)
    spec: dict = {
        "workerPoolSpecs": worker_pool_specs(request),
        "baseOutputDirectory": {"outputUriPrefix": request.base_output_dir},
    }
    if request.service_account:
        spec["serviceAccount"] = request.service_account
    errors = schema_errors(spec)
    if errors:
        raise AssertionError("job spec does not match the CustomJobSpec schema: " + "; ".join(errors))
    return spec


def gcloud_command(project: str, region: str, display_name: str, config_path: str) -> str:
    """The exact command that submits the spec."""
    return shlex.join([
        "gcloud", "ai", "custom-jobs", "create",
        f"--project={project}", f"--region={region}",
        f"--display-name={display_name}", f"--config={config_path}",
    ])
