"""The detector, built by Model Garden's factories from an ExperimentConfig, and its checkpoints."""

from od_tools.modeling.checkpoints import (
    CheckpointRestoreError,
    latest_checkpoint,
    read_step,
    restore_fine_tune,
    restore_model,
    variables_fingerprint,
)
from od_tools.modeling.detector import Detections, Detector, build_model

__all__ = [
    "CheckpointRestoreError",
    "Detections",
    "Detector",
    "build_model",
    "latest_checkpoint",
    "read_step",
    "restore_fine_tune",
    "restore_model",
    "variables_fingerprint",
]
