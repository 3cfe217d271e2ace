"""Trains a detector with the Object Detection API's TF2 loop (`model_main_tf2.py`, with preflight).

    bazel run //od_tools:train -- --pipeline_config_path=pipeline.config --model_dir=runs/my_model \
        [--override train_config.batch_size=16] [--num_train_steps=600] [--checkpoint_every_n=100]
    bazel run //od_tools:train -- --pipeline_config_path=... --model_dir=runs/my_model \
        --checkpoint_dir=runs/my_model      # evaluation mode, as model_main_tf2

Also `python -m od_tools.train ...` or the `od-train` command of the pip package. On one device
it uses the default strategy, on several GPUs MirroredStrategy, with --num_workers or TF_CONFIG
naming several workers MultiWorkerMirroredStrategy, with --use_tpu/--tpu_name (or --tpu)
TPUStrategy. Re-running with the same --model_dir resumes from its newest checkpoint.
"""

from __future__ import annotations

from typing import Sequence

from absl import flags

from od_tools.common import cli
from od_tools.common.errors import UserError
from od_tools.config.flags import define_pipeline_flags

FLAGS = flags.FLAGS

define_pipeline_flags()
flags.DEFINE_string("model_dir", None, "Folder for checkpoints, TensorBoard summaries and pipeline.config.",
                    required=True)
flags.DEFINE_integer("num_train_steps", None, "Steps to train (overrides train_config.num_steps).", lower_bound=1)
flags.DEFINE_string("checkpoint_dir", None, "Evaluate the checkpoints of this folder as they appear (written to "
                    "--model_dir/eval) instead of training, as model_main_tf2.py does.")
flags.DEFINE_integer("eval_timeout", 3600, "With --checkpoint_dir: seconds to wait for a new checkpoint.")
flags.DEFINE_integer("sample_1_of_n_eval_examples", 1, "Evaluate every n-th eval example only.", lower_bound=1)
flags.DEFINE_integer("checkpoint_every_n", 1000, "Write a checkpoint every N steps (and at the end).", lower_bound=1)
flags.DEFINE_integer("max_to_keep", 7, "Checkpoints to keep (older ones are deleted).", lower_bound=1)
flags.DEFINE_bool("record_summaries", True, "Record the model's image and tensor summaries (loss scalars always).")
flags.DEFINE_bool("use_tpu", False, "Train on a TPU (with --tpu_name).")
flags.DEFINE_string("tpu_name", None, "The TPU to train on with --use_tpu ('local' or empty on a TPU VM).")
flags.DEFINE_string("tpu", None, "Same as --use_tpu --tpu_name=NAME.")
flags.DEFINE_integer("num_workers", 1, "Workers training together (MultiWorkerMirroredStrategy above 1; "
                     "TF_CONFIG names them).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Random seed for weights, shuffling and augmentation.")
flags.DEFINE_bool("deterministic", False, "Make every op deterministic (bit-identical reruns; a little slower).")
flags.DEFINE_bool("eval_on_train_end", True, "Evaluate the final checkpoint on eval_input_reader.")


def _tpu() -> str | None:
    if FLAGS.tpu and FLAGS.use_tpu and FLAGS.tpu_name and FLAGS.tpu != FLAGS.tpu_name:
        raise UserError(f"--tpu={FLAGS.tpu} and --tpu_name={FLAGS.tpu_name} disagree; give one of them")
    if FLAGS.use_tpu:
        return FLAGS.tpu_name or FLAGS.tpu or "local"
    return FLAGS.tpu


def main(argv: Sequence[str]) -> None:
    del argv
    from od_tools.training.launch import evaluate_continuously, launch
    from od_tools.training.settings import TrainSettings  # TensorFlow loads here

    settings = TrainSettings(
        pipeline_config_path=cli.workspace_path(FLAGS.pipeline_config_path),
        model_dir=cli.workspace_path(FLAGS.model_dir),
        overrides=FLAGS.override,
        config_override=FLAGS.config_override,
        num_train_steps=FLAGS.num_train_steps,
        checkpoint_every_n=FLAGS.checkpoint_every_n,
        max_to_keep=FLAGS.max_to_keep,
        record_summaries=FLAGS.record_summaries,
        tpu=_tpu(),
        num_workers=FLAGS.num_workers,
        strict=FLAGS.strict,
        seed=FLAGS.seed,
        deterministic=FLAGS.deterministic,
        eval_on_end=FLAGS.eval_on_train_end,
        sample_1_of_n_eval_examples=FLAGS.sample_1_of_n_eval_examples)
    if FLAGS.checkpoint_dir:
        evaluate_continuously(settings, cli.workspace_path(FLAGS.checkpoint_dir), FLAGS.eval_timeout)
    else:
        launch(settings)


def run() -> None:
    """Entry point of the `od-train` console script."""
    cli.run(main)


if __name__ == "__main__":
    run()
