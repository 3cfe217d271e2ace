"""Training: the Object Detection API's TF2 loop (`model_lib_v2.train_loop`), as model_main_tf2 runs it.

The loop, the model, losses, optimizer, input pipeline, fine-tuning from checkpoints, checkpoints
(`ckpt-N`, every `checkpoint_every_n` steps) and TensorBoard summaries (`<model_dir>/train`) are
the OD API's. This module adds what its users ask for around it: the resolved pipeline.config in
the model_dir before anything runs, a refusal to mix models in one model_dir, a progress line,
seeded and optionally bit-repeatable runs, resuming after a kill, and evaluation at the end.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time

import tensorflow as tf
from absl import logging
from object_detection import model_lib_v2

from od_tools.common.errors import UserError
from od_tools.common.progress import Progress, format_duration, report_status
from od_tools.config import Prepared, checkpoints, read_pipeline_config, write_pipeline_config, write_resolved_config
from od_tools.config.pipeline import PipelineConfigError, meta_architecture
from od_tools.training import strategy as strategies
from od_tools.training.settings import TrainSettings, write_settings


@dataclasses.dataclass(frozen=True)
class TrainResult:
    start_step: int  # the step training resumed from (0 for a fresh start)
    final_step: int
    checkpoint: str  # the final ckpt-N prefix
    seconds: float
    fingerprint: str  # of the final checkpoint's model variables


# Deterministic runs use this many TensorFlow threads on every machine (see set_determinism).
DETERMINISTIC_THREADS = 2


def set_determinism(seed: int | None, deterministic: bool) -> None:
    """Seeds Python, NumPy and TensorFlow; with `deterministic`, every op runs reproducibly.

    The OD API's input pipeline draws its augmentation from the global seed (with our patch).
    Op determinism alone is not enough on CPU: oneDNN's backward convolutions sum the gradients
    of weights shared across pyramid levels (the box predictor's) in chunks that follow the size
    of TensorFlow's thread pools, so deterministic runs pin both pools to DETERMINISTIC_THREADS
    on every machine: a fixed split sums in a fixed order (two concurrent 40-step demo runs on 2
    threads ended with one fingerprint), and both cores of a 2-core machine work. And Grappler,
    which rewrites each tf.function's graph (folding, fusing, pruning), works to time budgets,
    so on a loaded machine two runs of one command can train slightly different graphs: 5 of 5
    pairs of concurrent 120-step demo runs diverged with it, none without it. Deterministic runs
    switch it off. Call it before TensorFlow runs anything.
    """
    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    if not deterministic:
        return
    tf.config.experimental.enable_op_determinism()
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    threading = tf.config.threading
    threads = DETERMINISTIC_THREADS
    if threading.get_inter_op_parallelism_threads() == threads and threading.get_intra_op_parallelism_threads() == threads:
        return
    try:
        threading.set_inter_op_parallelism_threads(threads)
        threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError as e:  # TensorFlow's runtime already started with its thread pools
        raise UserError("--deterministic: TensorFlow already runs with other thread pools in this process, which "
                        "makes training irreproducible; start a new process with --deterministic") from e


def check_model_dir(prepared: Prepared, model_dir: str) -> int:
    """The step a model_dir's newest checkpoint holds (0 if none); refuses another model's folder.

    A model_dir the OD API trained holds the pipeline.config it ran; resuming with a config whose
    `model { ... }` differs would restore mismatched weights, so it stops here, untouched.
    """
    found = checkpoints.locate(model_dir)
    if found is None:
        return 0
    config_path = os.path.join(model_dir, checkpoints.PIPELINE_CONFIG)
    if tf.io.gfile.exists(config_path):
        try:
            previous = read_pipeline_config(config_path)
        except PipelineConfigError:
            previous = None
        if previous is not None and previous.model != prepared.config.model:
            kind = meta_architecture(prepared.config)
            raise UserError(f"--model_dir {model_dir}: holds {os.path.basename(found.prefix)} of another model (its "
                            f"pipeline.config has a different model.{kind} block); use a new --model_dir, or the "
                            "config it was trained with")
    return checkpoints.read_step(found.prefix)


def _iterations(total: int, checkpoint_every_n: int) -> int:
    """Steps per call of the OD API's training function: about 20 progress updates per run, and
    none past a checkpoint (the loop checkpoints between calls)."""
    return max(1, min(100, total // 20, checkpoint_every_n))


def train(prepared: Prepared, settings: TrainSettings, strategy: tf.distribute.Strategy) -> TrainResult:
    """Trains to train_config.num_steps, resuming from the newest checkpoint in model_dir."""
    config = prepared.config
    total = config.train_config.num_steps
    chief = strategies.is_chief(strategy)
    start = check_model_dir(prepared, settings.model_dir)
    logging.info("strategy: %s", strategies.describe(strategy))
    if start:
        logging.info("resuming from step %d in %s", start, settings.model_dir)
    if chief:  # only now: a model_dir of another model is refused above, untouched
        tf.io.gfile.makedirs(settings.model_dir)
        write_resolved_config(prepared.pipeline, settings.model_dir)
        write_settings(settings, settings.model_dir)
    progress = Progress("train", total=total, unit="steps", initial=start, clock_from_first_update=True,
                        log_every=10.0)

    def on_iteration(step: int, values: dict[str, float], steps_per_sec: float) -> None:
        del steps_per_sec
        progress.set(step, f"loss {values.get('Loss/total_loss', float('nan')):.4f} "
                           f"lr {values.get('learning_rate', float('nan')):.3g}")

    began = time.monotonic()
    report_status(f"train: building the model and tracing its training step (then {total - start} steps)")
    with tempfile.TemporaryDirectory(prefix="od_train_") as scratch:
        # Every worker reads the same resolved config from a file of its own.
        config_path = os.path.join(scratch, checkpoints.PIPELINE_CONFIG)
        write_pipeline_config(config, config_path)
        with strategy.scope():
            model_lib_v2.train_loop(
                pipeline_config_path=config_path, model_dir=settings.model_dir, train_steps=total,
                use_tpu=settings.use_tpu, checkpoint_every_n=settings.checkpoint_every_n,
                checkpoint_max_to_keep=settings.max_to_keep, record_summaries=settings.record_summaries,
                num_steps_per_iteration=_iterations(total, settings.checkpoint_every_n), iteration_callback=on_iteration)
    progress.close()
    seconds = time.monotonic() - began
    final = checkpoints.locate(settings.model_dir)
    if final is None:  # a worker whose checkpoints went to a scratch folder, now removed
        return TrainResult(start, total, "", seconds, "")
    fingerprint = checkpoints.checkpoint_fingerprint(final.prefix)
    logging.info("trained steps %d-%d in %s; checkpoint %s; variables fingerprint %s",
                 start, checkpoints.read_step(final.prefix), format_duration(seconds), final.prefix, fingerprint)
    return TrainResult(start, checkpoints.read_step(final.prefix), final.prefix, seconds, fingerprint)
