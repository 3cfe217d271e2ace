"""Training from a pipeline.config, as `od_tools.train` runs it: strategy, preflight, loop, eval."""

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
    num_train_steps: int | None = None
    checkpoint_every_n: int = 1000
    summary_every_n: int = 100
    max_to_keep: int = 7
    tpu: str | None = None
    strict: bool = False
    seed: int | None = None
    deterministic: bool = False
    eval_on_end: bool = True


def prepare_training(options: LaunchOptions, num_replicas: int) -> Prepared:
    overrides = list(options.overrides)
    if options.num_train_steps:
        overrides.append(f"train_config.num_steps={options.num_train_steps}")
    return prepare(options.pipeline_config_path, overrides,
                   checks=Checks(Purpose.TRAIN, num_replicas=num_replicas, use_tpu=bool(options.tpu)),
                   strict=options.strict, seed=options.seed, deterministic=options.deterministic)


def end_of_training_eval(prepared: Prepared, model_dir: str):
    """The evaluate(model, step) callback: COCO metrics into <model_dir>/eval."""
    if not prepared.pipeline.config.eval_input_reader:
        return None

    def evaluate(model, step: int):
        from od_tools.evaluation.evaluator import EvalSettings
        from od_tools.evaluation.run import evaluate_and_record
        from od_tools.modeling import Detector

        settings = EvalSettings.from_pipeline(prepared.pipeline)
        result = evaluate_and_record(Detector.from_model(prepared.experiment, model), prepared, settings,
                                     os.path.join(model_dir, "eval"), step,
                                     checkpoint=os.path.join(model_dir, f"ckpt-{step}"))
        return result.metrics

    return evaluate


def launch(options: LaunchOptions) -> TrainResult:
    """Creates the strategy first (multi-worker setups require it), then checks and trains."""
    strategy = strategies.create_strategy(options.tpu)
    set_determinism(options.seed, options.deterministic)
    prepared = prepare_training(options, strategy.num_replicas_in_sync)
    logging.info("training %s: %s", options.pipeline_config_path, describe_paths(prepared.pipeline))
    train_options = TrainOptions(
        model_dir=options.model_dir, checkpoint_every_n=options.checkpoint_every_n,
        summary_every_n=options.summary_every_n, max_to_keep=options.max_to_keep, seed=options.seed,
        deterministic=options.deterministic, eval_on_end=options.eval_on_end)
    return train(prepared, train_options, strategy, evaluate=end_of_training_eval(prepared, options.model_dir))
