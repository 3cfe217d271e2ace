"""Trains a detector from a pipeline.config (the OD API's `model_main_tf2.py`, on Model Garden).

    bazel run //od_tools:train -- --pipeline_config_path=pipeline.config --model_dir=runs/my_model \
        [--override train_config.batch_size=16] [--num_train_steps=600] [--checkpoint_every_n=100]

Also `python -m od_tools.train ...` or the `od-train` command of the pip package. On one device
it uses the default strategy, on several GPUs MirroredStrategy, with TF_CONFIG naming several
workers MultiWorkerMirroredStrategy, with --tpu TPUStrategy. Re-running with the same
--model_dir resumes from its newest checkpoint.
"""

from __future__ import annotations

from typing import Sequence

from absl import flags

from od_tools.common import cli
from od_tools.config.flags import define_pipeline_flags

FLAGS = flags.FLAGS

define_pipeline_flags()
flags.DEFINE_string("model_dir", None, "Folder for checkpoints, TensorBoard summaries and pipeline.config.",
                    required=True)
flags.DEFINE_integer("num_train_steps", None, "Steps to train (overrides train_config.num_steps).")
flags.DEFINE_integer("checkpoint_every_n", 1000, "Write a checkpoint every N steps (and at the end).", lower_bound=1)
flags.DEFINE_integer("summary_every_n", 100, "Record TensorBoard summaries and progress every N steps.", lower_bound=1)
flags.DEFINE_integer("max_to_keep", 7, "Checkpoints to keep (older ones are deleted).", lower_bound=1)
flags.DEFINE_string("tpu", None, "TPU name or grpc:// address ('local' on a TPU VM): train with TPUStrategy.")
flags.DEFINE_integer("seed", 0, "Random seed for weights, shuffling and augmentation.")
flags.DEFINE_bool("deterministic", False, "Make every op deterministic (bit-identical reruns; a little slower).")
flags.DEFINE_bool("eval_on_train_end", True, "Evaluate on eval_input_reader when training ends.")


def main(argv: Sequence[str]) -> None:
    del argv
    from od_tools.training.launch import LaunchOptions, launch  # TensorFlow loads after flag parsing

    launch(LaunchOptions(
        pipeline_config_path=cli.workspace_path(FLAGS.pipeline_config_path),
        model_dir=cli.workspace_path(FLAGS.model_dir),
        overrides=FLAGS.override,
        num_train_steps=FLAGS.num_train_steps,
        checkpoint_every_n=FLAGS.checkpoint_every_n,
        summary_every_n=FLAGS.summary_every_n,
        max_to_keep=FLAGS.max_to_keep,
        tpu=FLAGS.tpu,
        strict=FLAGS.strict,
        seed=FLAGS.seed,
        deterministic=FLAGS.deterministic,
        eval_on_end=FLAGS.eval_on_train_end))


def run() -> None:
    """Entry point of the `od-train` console script."""
    cli.run(main)


if __name__ == "__main__":
    run()
