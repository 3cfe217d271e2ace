"""Training on tf.distribute: strategy choice, the loop with checkpoints/resume/summaries, inputs."""

from od_tools.training.strategy import create_strategy, describe, is_chief, task_of
from od_tools.training.trainer import TrainOptions, TrainResult, set_determinism, train

__all__ = [
    "TrainOptions",
    "TrainResult",
    "create_strategy",
    "describe",
    "is_chief",
    "set_determinism",
    "task_of",
    "train",
]
