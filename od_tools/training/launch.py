"""`od_tools.train` once its flags are read: model_main_tf2's two modes, with preflight first.

Without --checkpoint_dir it trains (then evaluates the final checkpoint on the chief); with it,
it evaluates the checkpoints in that folder as they appear, as `model_main_tf2.py` does.
"""

from __future__ import annotations

import dataclasses
import os

from absl import logging

from od_tools.config import Checks, Prepared, Purpose, prepare
from od_tools.config.prepare import describe_paths
from od_tools.training import strategy as strategies
from od_tools.training.settings import TrainSettings
from od_tools.training.trainer import TrainResult, set_determinism, train


@dataclasses.dataclass(frozen=True)
class LaunchResult:
    training: TrainResult
    eval_metrics: dict | None  # short names (AP, AP50, ...) of the final checkpoint, when evaluated


def prepare_training(settings: TrainSettings, num_replicas: int) -> Prepared:
    overrides = list(settings.overrides)
    if settings.num_train_steps:
        overrides.append(f"train_config.num_steps={settings.num_train_steps}")
    return prepare(settings.pipeline_config_path, overrides, config_override=settings.config_override,
                   checks=Checks(Purpose.TRAIN, num_replicas=num_replicas, use_tpu=settings.use_tpu),
                   strict=settings.strict)


def launch(settings: TrainSettings) -> LaunchResult:
    """Fixes seeds and threads, creates the strategy (before any other TensorFlow work, as multi-worker
    setups require), then checks, trains and evaluates."""
    set_determinism(settings.seed, settings.deterministic)  # thread pools: before TensorFlow starts
    strategy = strategies.create_strategy(settings.tpu, settings.num_workers)
    prepared = prepare_training(settings, strategy.num_replicas_in_sync)
    logging.info("training %s: %s", settings.pipeline_config_path, describe_paths(prepared.pipeline))
    result = train(prepared, settings, strategy)
    metrics = None
    if settings.eval_on_end and strategies.is_chief(strategy) and prepared.config.eval_input_reader:
        from od_tools.evaluation import run as eval_run

        eval_settings = eval_run.eval_settings(prepared, sample_1_of_n=settings.sample_1_of_n_eval_examples)
        metrics = eval_run.record_checkpoint_eval(prepared, result.checkpoint, os.path.join(settings.model_dir, "eval"),
                                                  eval_settings).metrics
    return LaunchResult(result, metrics)


def evaluate_continuously(settings: TrainSettings, checkpoint_dir: str, timeout: int, wait_interval: int = 300
                          ) -> None:
    """model_main_tf2's evaluation mode: each new checkpoint in `checkpoint_dir`, until `timeout`
    seconds pass without one or the last training step is reached."""
    import tempfile

    from object_detection import model_lib_v2

    from od_tools.config import write_pipeline_config

    prepared = prepare(settings.pipeline_config_path, settings.overrides, config_override=settings.config_override,
                       checks=Checks(Purpose.EVAL), strict=settings.strict)
    with tempfile.TemporaryDirectory(prefix="od_eval_") as scratch:
        config_path = os.path.join(scratch, "pipeline.config")
        write_pipeline_config(prepared.config, config_path)
        model_lib_v2.eval_continuously(
            pipeline_config_path=config_path, model_dir=settings.model_dir, checkpoint_dir=checkpoint_dir,
            train_steps=settings.num_train_steps, sample_1_of_n_eval_examples=settings.sample_1_of_n_eval_examples,
            use_tpu=settings.use_tpu, wait_interval=wait_interval, timeout=timeout)
