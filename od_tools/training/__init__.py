"""Training with the Object Detection API's TF2 loop on tf.distribute: strategy, progress,
determinism, resume, evaluation at the end."""

from od_tools.training.strategy import create_strategy, describe, is_chief, task_of
from od_tools.training.settings import SETTINGS_FILE, TrainSettings
from od_tools.training.trainer import TrainResult, check_model_dir, set_determinism, train

__all__ = [
    "SETTINGS_FILE",
    "TrainResult",
    "TrainSettings",
    "check_model_dir",
    "create_strategy",
    "describe",
    "is_chief",
    "set_determinism",
    "task_of",
    "train",
]
