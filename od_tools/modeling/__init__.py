"""The detection model, built by the Object Detection API from the config, its checkpoints, and
detections from the OD API's inference module."""

from od_tools.modeling.detector import Detections, Detector
from od_tools.modeling.model import (
    CheckpointRestoreError,
    build_model,
    check_restored,
    does_not_fit,
    inference_mode,
    load_model,
)

__all__ = [
    "CheckpointRestoreError",
    "Detections",
    "Detector",
    "build_model",
    "check_restored",
    "does_not_fit",
    "inference_mode",
    "load_model",
]
