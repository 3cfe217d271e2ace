"""`od_tools.train` once its flags are read: model_main_tf2's two modes, with preflight first.

Without --checkpoint_dir it trains (then evaluates the final checkpoint on the chief); with it,
it evaluates the checkpoints in that folder as they appear, as `model_main_tf2.py` does.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

from absl import logging

from od_tools.config import Checks, Prepared, Purpose, prepare
from od_tools.config.prepare import describe_paths
from od_tools.training import strategy as strategies
from od_tools.training.trainer import TrainOptions, TrainResult, set_determinism, train


@dataclasses.dataclass(frozen=True)
class LaunchOptions:
    pipeline_config_path: str
    model_dir: str
    overrides: Sequence[str] = ()
    config_override: str = ""
    num_train_steps: int | None = None
    checkpoint_every_n: int = 1000
    max_to_keep: int = 7
    record_summaries: bool = True
    tpu: str | None = None
    num_workers: int = 1
    strict: bool = False
    seed: int | None = None
    deterministic: bool = False
    eval_on_end: bool = True
    sample_1_of_n_eval_examples: int = 1


@dataclasses.dataclass(frozen=True)
class LaunchResult:
    training: TrainResult
    eval_metrics: dict | None  # short names (AP, AP50, ...) of the final checkpoint, when evaluated


def prepare_training(options: LaunchOptions, num_replicas: int) -> Prepared:
    overrides = list(options.overrides)
    if options.num_train_steps:
        overrides.append(f"train_config.num_steps={options.num_train_steps}")
    return prepare(options.pipeline_config_path, overrides, config_override=options.config_override,
                   checks=Checks(Purpose.TRAIN, num_replicas=num_replicas, use_tpu=bool(options.tpu)),
                   strict=options.strict)


def launch(options: LaunchOptions) -> LaunchResult:
    """Fixes seeds and threads, creates the strategy (before any other TensorFlow work, as multi-worker
    setups require), then checks, trains and evaluates."""
    set_determinism(options.seed, options.deterministic)  # thread pools: before TensorFlow starts
    strategy = strategies.create_strategy(options.tpu, options.num_workers)
    prepared = prepare_training(options, strategy.num_replicas_in_sync)
    logging.info("training %s: %s", options.pipeline_config_path, describe_paths(prepared.pipeline))
    result = train(prepared, TrainOptions(
        model_dir=options.model_dir, checkpoint_every_n=options.checkpoint_every_n, max_to_keep=options.max_to_keep,
        use_tpu=bool(options.tpu), record_summaries=options.record_summaries, seed=options.seed,
        deterministic=options.deterministic), strategy)
    metrics = None
    if options.eval_on_end and strategies.is_chief(strategy) and prepared.config.eval_input_reader:
        from od_tools.evaluation import run as eval_run

        settings = eval_run.eval_settings(prepared, sample_1_of_n=options.sample_1_of_n_eval_examples)
        metrics = eval_run.record_checkpoint_eval(prepared, result.checkpoint, os.path.join(options.model_dir, "eval"),
                                                  settings).metrics
    return LaunchResult(result, metrics)


def evaluate_continuously(options: LaunchOptions, checkpoint_dir: str, timeout: int, wait_interval: int = 300
                          ) -> None:
    """model_main_tf2's evaluation mode: each new checkpoint in `checkpoint_dir`, until `timeout`
    seconds pass without one or the last training step is reached."""
    import tempfile

    from object_detection import model_lib_v2

    from od_tools.config import write_pipeline_config

    prepared = prepare(options.pipeline_config_path, options.overrides, config_override=options.config_override,
                       checks=Checks(Purpose.EVAL), strict=options.strict)
    with tempfile.TemporaryDirectory(prefix="od_eval_") as scratch:
        config_path = os.path.join(scratch, "pipeline.config")
        write_pipeline_config(prepared.config, config_path)
        model_lib_v2.eval_continuously(
            pipeline_config_path=config_path, model_dir=options.model_dir, checkpoint_dir=checkpoint_dir,
            train_steps=options.num_train_steps, sample_1_of_n_eval_examples=options.sample_1_of_n_eval_examples,
            use_tpu=bool(options.tpu), wait_interval=wait_interval, timeout=timeout)
