"""The Vertex AI CustomJobSpec fields this project writes, as the v1 REST reference names them.

A job spec is checked against this before it is written, so a typo in a field name (which
gcloud would reject only at submission, or silently ignore) fails here, at once.
Each message maps field names to the message type of the value, `None` for a scalar, or
`[...]` for a repeated field.
"""

from __future__ import annotations

from typing import Any

MESSAGES: dict[str, dict[str, Any]] = {
    "CustomJobSpec": {
        "workerPoolSpecs": ["WorkerPoolSpec"],
        "scheduling": "Scheduling",
        "serviceAccount": None,
        "network": None,
        "reservedIpRanges": [None],
        "baseOutputDirectory": "GcsDestination",
        "tensorboard": None,
        "enableWebAccess": None,
        "enableDashboardAccess": None,
        "experiment": None,
        "experimentRun": None,
        "persistentResourceId": None,
    },
    "WorkerPoolSpec": {
        "containerSpec": "ContainerSpec",
        "pythonPackageSpec": "PythonPackageSpec",
        "machineSpec": "MachineSpec",
        "replicaCount": None,
        "nfsMounts": [None],
        "diskSpec": "DiskSpec",
    },
    "MachineSpec": {
        "machineType": None,
        "acceleratorType": None,
        "acceleratorCount": None,
        "tpuTopology": None,
        "reservationAffinity": None,
    },
    "PythonPackageSpec": {
        "executorImageUri": None,
        "packageUris": [None],
        "pythonModule": None,
        "args": [None],
        "env": ["EnvVar"],
    },
    "ContainerSpec": {"imageUri": None, "command": [None], "args": [None], "env": ["EnvVar"]},
    "EnvVar": {"name": None, "value": None},
    "DiskSpec": {"bootDiskType": None, "bootDiskSizeGb": None},
    "GcsDestination": {"outputUriPrefix": None},
    "Scheduling": {"timeout": None, "restartJobOnWorkerRestart": None, "disableRetries": None},
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "CustomJobSpec": ("workerPoolSpecs",),
    "WorkerPoolSpec": ("machineSpec", "replicaCount"),
    "MachineSpec": ("machineType",),
    "PythonPackageSpec": ("executorImageUri", "packageUris", "pythonModule"),
}

ACCELERATOR_TYPES = frozenset({
    "NVIDIA_TESLA_K80", "NVIDIA_TESLA_P100", "NVIDIA_TESLA_V100", "NVIDIA_TESLA_P4", "NVIDIA_TESLA_T4",
    "NVIDIA_TESLA_A100", "NVIDIA_A100_80GB", "NVIDIA_L4", "NVIDIA_H100_80GB", "NVIDIA_H100_MEGA_80GB",
    "NVIDIA_H200_141GB", "NVIDIA_B200", "TPU_V2", "TPU_V3", "TPU_V4_POD", "TPU_V5_LITEPOD",
})


def schema_errors(value: Any, message: str = "CustomJobSpec", path: str = "") -> list[str]:
    """Every way `value` departs from the schema, as `path: problem` lines (empty when valid)."""
    fields = MESSAGES[message]
    if not isinstance(value, dict):
        return [f"{path or message}: expected a {message} object"]
    errors = [f"{path}{name}: unknown {message} field" for name in value if name not in fields]
    errors += [f"{path}{name}: required {message} field is missing"
               for name in REQUIRED.get(message, ()) if name not in value]
    for name, item in value.items():
        kind = fields.get(name)
        if isinstance(kind, list):
            if not isinstance(item, list):
                errors.append(f"{path}{name}: expected a list")
                continue
            if kind[0] is not None:
                for i, element in enumerate(item):
                    errors += schema_errors(element, kind[0], f"{path}{name}[{i}].")
        elif isinstance(kind, str):
            errors += schema_errors(item, kind, f"{path}{name}.")
    if message == "MachineSpec" and "acceleratorType" in value:
        if value["acceleratorType"] not in ACCELERATOR_TYPES:
            errors.append(f"{path}acceleratorType: {value['acceleratorType']} is not a Vertex AI accelerator type")
        if not isinstance(value.get("acceleratorCount"), int) or value["acceleratorCount"] < 1:
            errors.append(f"{path}acceleratorCount: must be a positive integer with acceleratorType")
    if message == "WorkerPoolSpec":
        specs = [k for k in ("containerSpec", "pythonPackageSpec") if k in value]
        if len(specs) != 1:
            errors.append(f"{path}: exactly one of containerSpec, pythonPackageSpec")
        if not isinstance(value.get("replicaCount"), int) or value.get("replicaCount", 0) < 1:
            errors.append(f"{path}replicaCount: must be a positive integer")
    return errors
