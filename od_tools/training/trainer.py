"""The training loop: Model Garden's RetinaNet task driven under any tf.distribute strategy.

Model, losses, optimizer and input pipeline come from Model Garden (`RetinaNetTask`); this loop
adds what OD API users expect from `model_main_tf2.py`: checkpoints every N steps that a
killed run resumes from, TensorBoard summaries, a progress line with steps/s and ETA,
fine-tuning from a checkpoint, and evaluation when training ends.
"""

from __future__ import annotations

import dataclasses
import logging as logging_std
import os
import sys
import time
from typing import Callable

import tensorflow as tf
from absl import logging
from official.modeling.hyperparams import params_dict
from official.vision.tasks import retinanet as retinanet_task

from od_tools.common.errors import UserError
from od_tools.common.progress import format_duration
from od_tools.config import Prepared, write_resolved_config
from od_tools.modeling import checkpoints
from od_tools.modeling.detector import build_model
from od_tools.training import inputs
from od_tools.training import strategy as strategies


@dataclasses.dataclass(frozen=True)
class TrainOptions:
    model_dir: str
    checkpoint_every_n: int = 1000
    summary_every_n: int = 100
    max_to_keep: int = 7
    seed: int | None = None
    deterministic: bool = False
    eval_on_end: bool = True


@dataclasses.dataclass
class TrainResult:
    start_step: int  # the step training resumed from (0 for a fresh start)
    final_step: int
    checkpoint: str
    losses: list[tuple[int, dict[str, float]]]  # (step, mean losses since the previous record)
    seconds: float
    fingerprint: str
    eval_metrics: dict | None = None
    fine_tuned: str = ""


def set_determinism(seed: int | None, deterministic: bool) -> None:
    """Seeds Python, NumPy and TensorFlow; with `deterministic`, every op runs reproducibly."""
    if seed is not None:
        tf.keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


class _ProgressLine:
    """`train [####....] 120/600 steps 2.1 steps/s ETA 3:48 loss 0.812 lr 0.04` on stderr.

    The rate counts from the first finished loop, so graph tracing does not skew the ETA.
    """

    def __init__(self, total: int, start: int, log_every: float = 10.0):
        self.total, self.log_every = total, log_every
        self.interactive = sys.stderr.isatty()
        self._origin: tuple[float, int] | None = None
        self._start_step = start
        self._last = float("-inf")

    def update(self, step: int, losses: dict[str, float], lr: float, loop_rate: float, final: bool = False) -> None:
        now = time.monotonic()
        if self._origin is None:
            self._origin = (now, step)
        elapsed, done = now - self._origin[0], step - self._origin[1]
        rate = done / elapsed if elapsed > 0 and done > 0 else loop_rate
        if not final and now - self._last < (0.2 if self.interactive else self.log_every):
            return
        self._last = now
        width = 24
        filled = min(width, int(width * step / max(self.total, 1)))
        eta = format_duration((self.total - step) / rate) if rate else "?"
        line = (f"train [{'#' * filled}{'.' * (width - filled)}] {step}/{self.total} steps "
                f"{rate:.2f} steps/s ETA {eta} loss {losses.get('total_loss', float('nan')):.4f} lr {lr:.3g}")
        sys.stderr.write(("\r" + line + ("\n" if final else "")) if self.interactive else line + "\n")
        sys.stderr.flush()


class _UnusedBackboneOutputFilter(logging_std.Filter):
    """Drops Keras' "Gradients do not exist" warning for the MobileNet's unused last conv.

    Model Garden's MobileNet also outputs its classification-stage conv, which the FPN does not
    use; its variables get no gradient by design, and Keras would warn at every trace.
    """

    def filter(self, record: logging_std.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith("Gradients do not exist for variables") and "conv2dbn_block" in message)


def _next_stop(step: int, total: int, every: list[int]) -> int:
    """The next step where a loop must end: a checkpoint, a summary, or the end."""
    stops = [total] + [(step // n + 1) * n for n in every if n > 0]
    return min(stops)


def _current_lr(optimizer) -> float:
    lr = optimizer.learning_rate
    if isinstance(lr, tf.keras.optimizers.schedules.LearningRateSchedule) or callable(lr):
        return float(lr(optimizer.iterations))
    return float(tf.keras.backend.get_value(lr))


def _write_run_records(prepared: Prepared, model_dir: str) -> None:
    """pipeline.config (as used) and Model Garden's params.yaml beside the checkpoints."""
    tf.io.gfile.makedirs(model_dir)
    write_resolved_config(prepared.pipeline, model_dir)
    params_dict.save_params_dict_to_yaml(prepared.experiment, os.path.join(model_dir, "params.yaml"))


def _model_for_eval(experiment, model, strategy: tf.distribute.Strategy, checkpoint: str):
    """The trained model, outside any multi-device strategy.

    Reading distributed variables (batch-norm statistics are synchronised on read) would start
    collectives the other workers no longer join; a local copy restored from the final
    checkpoint runs on the chief alone.
    """
    if strategy is tf.distribute.get_strategy():  # the default strategy: nothing is distributed
        return model
    local = build_model(experiment)  # outside strategy.scope(): plain local variables
    checkpoints.restore_model(local, checkpoint)
    return local


def train(prepared: Prepared, options: TrainOptions, strategy: tf.distribute.Strategy,
          evaluate: Callable | None = None) -> TrainResult:
    """Trains to train_config.num_steps, resuming from the newest checkpoint in model_dir.

    `evaluate(model, step)` runs on the chief when training ends (and may return metrics).
    """
    experiment = prepared.experiment
    total = int(experiment.trainer.train_steps)
    chief = strategies.is_chief(strategy)
    task_type, task_id = strategies.task_of(strategy)
    # Every worker must take part in saving (mirrored variables), but only the chief's copy is
    # kept: the others write to a scratch folder, removed at the end.
    write_dir = options.model_dir if chief else os.path.join(options.model_dir, f".{task_type}-{task_id}-tmp")
    logging.info("strategy: %s", strategies.describe(strategy))

    task = retinanet_task.RetinaNetTask(experiment.task)
    tf.get_logger().addFilter(_UnusedBackboneOutputFilter())
    with strategy.scope():
        model = task.build_model()
        optimizer = task.create_optimizer(experiment.trainer.optimizer_config, experiment.runtime)
        step_counter = optimizer.iterations  # creates it under the strategy
        metrics = task.build_metrics(training=True)
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer)
    manager = tf.train.CheckpointManager(
        checkpoint, write_dir, max_to_keep=options.max_to_keep,
        keep_checkpoint_every_n_hours=prepared.pipeline.config.train_config.keep_checkpoint_every_n_hours,
        step_counter=step_counter)

    fine_tuned = ""
    latest = tf.train.latest_checkpoint(options.model_dir)
    if latest:
        try:
            checkpoint.restore(latest).assert_existing_objects_matched()
        except (AssertionError, ValueError) as e:
            raise UserError(f"--model_dir {options.model_dir}: its checkpoint {os.path.basename(latest)} does not fit "
                            f"the model this pipeline config describes ({str(e).splitlines()[0][:160]}); use a new "
                            "--model_dir, or the config it was trained with") from e
        logging.info("resuming from %s at step %d", latest, int(step_counter.numpy()))
    elif experiment.task.init_checkpoint:
        fine_tuned = checkpoints.restore_fine_tune(model, experiment.task.init_checkpoint,
                                                   experiment.task.init_checkpoint_modules)
        logging.info("fine-tuning: restored %s", fine_tuned)
    start = int(step_counter.numpy())
    if chief:  # only now: a model_dir of another model is refused above, untouched
        _write_run_records(prepared, options.model_dir)

    data_config = experiment.task.train_data
    if data_config.seed is not None:
        # A resumed run shuffles afresh instead of replaying the batches it already trained on.
        data_config = data_config.replace(seed=data_config.seed + start)
    task_config = experiment.task.replace(train_data=data_config)
    dataset = strategy.distribute_datasets_from_function(
        lambda ctx: inputs.train_dataset(task_config, ctx, deterministic=options.deterministic))
    iterator = iter(dataset)

    @tf.function
    def train_loop(iterator, steps):
        for _ in tf.range(steps):
            strategy.run(task.train_step, args=(next(iterator), model, optimizer), kwargs={"metrics": metrics})

    writer = (tf.summary.create_file_writer(os.path.join(options.model_dir, "train")) if chief
              else tf.summary.create_noop_writer())
    progress = _ProgressLine(total, start)
    history: list[tuple[int, dict[str, float]]] = []
    began = time.monotonic()
    step = start
    last_saved = start if latest else -1
    while step < total:
        stop = _next_stop(step, total, [options.checkpoint_every_n, options.summary_every_n])
        loop_began, previous = time.monotonic(), step
        train_loop(iterator, tf.constant(stop - step, tf.int32))
        step = int(step_counter.numpy())
        losses = {m.name: float(m.result()) for m in metrics}
        for m in metrics:
            m.reset_state()
        lr = _current_lr(optimizer)
        history.append((step, losses))
        loop_rate = (step - previous) / max(time.monotonic() - loop_began, 1e-9)
        with writer.as_default(step=step):
            for name, value in losses.items():
                tf.summary.scalar(f"loss/{name}", value)
            tf.summary.scalar("learning_rate", lr)
            tf.summary.scalar("steps_per_sec", loop_rate)
        progress.update(step, losses, lr, loop_rate, final=step >= total)
        if step % options.checkpoint_every_n == 0 or step >= total:
            manager.save(checkpoint_number=step)
            last_saved = step
    if last_saved != step:
        manager.save(checkpoint_number=step)
    writer.flush()
    seconds = time.monotonic() - began
    fingerprint = checkpoints.variables_fingerprint(model.variables)
    saved = os.path.join(options.model_dir, f"ckpt-{step}")
    logging.info("trained steps %d-%d in %s; checkpoint %s; variables fingerprint %s",
                 start, step, format_duration(seconds), saved, fingerprint)
    if not chief and tf.io.gfile.exists(write_dir):
        tf.io.gfile.rmtree(write_dir)
    eval_metrics = None
    if chief and evaluate is not None and options.eval_on_end:
        eval_metrics = evaluate(_model_for_eval(experiment, model, strategy, saved), step)
    return TrainResult(start, step, saved, history, seconds, fingerprint, eval_metrics, fine_tuned)
