"""Checks a pipeline.config before anything runs, and says what Model Garden will make of it.

    bazel run //od_tools:validate_pipeline -- --pipeline_config_path=pipeline.config \
        [--override ...] [--purpose=train|eval|export] [--num_replicas=8] [--use_tpu] [--explain]

Every problem is reported at once, one line each: `field.path: problem; fix`. The same checks
run automatically before train, eval and export.
"""

from __future__ import annotations

from typing import Sequence

from absl import flags

from od_tools.common import cli
from od_tools.config.flags import define_pipeline_flags

FLAGS = flags.FLAGS

define_pipeline_flags()
flags.DEFINE_enum("purpose", "train", ["train", "eval", "export"], "What the config is about to be used for.")
flags.DEFINE_integer("num_replicas", 1, "Replicas the batch is split over (GPUs, workers x GPUs, TPU cores).",
                     lower_bound=1)
flags.DEFINE_bool("use_tpu", False, "Also apply the TPU static-shape rules.")
flags.DEFINE_bool("explain", False, "List every set field as honoured, without effect, or not honoured.")
flags.DEFINE_string("output_path", None, "Also write the resolved config (overrides applied, num_classes "
                    "filled in, absolute paths) here.")


def main(argv: Sequence[str]) -> None:
    del argv
    from od_tools.config import Checks, Purpose, prepare, write_pipeline_config  # loads Model Garden

    path = cli.workspace_path(FLAGS.pipeline_config_path)
    prepared = prepare(path, FLAGS.override, strict=FLAGS.strict,
                       checks=Checks(Purpose(FLAGS.purpose), num_replicas=FLAGS.num_replicas, use_tpu=FLAGS.use_tpu))
    report = prepared.report
    if FLAGS.explain:
        for title, paths in (("honoured", report.honoured), ("without effect (TF1 or tuning knobs)", report.no_effect),
                             ("not honoured", [str(item) for item in report.not_honoured])):
            print(f"{title} ({len(paths)}):")
            print("".join(f"  {p}\n" for p in paths), end="")
    if FLAGS.output_path:
        write_pipeline_config(prepared.pipeline.config, cli.workspace_path(FLAGS.output_path))
    model = prepared.experiment.task.model
    print(f"{path}: OK for {FLAGS.purpose}: {model.backbone.mobilenet.model_id} x{model.backbone.mobilenet.filter_size_scale:g}"
          f" + FPN levels {model.min_level}-{model.max_level}, input {model.input_size[0]}x{model.input_size[1]}, "
          f"{prepared.num_classes} classes; {len(report.honoured)} settings honoured, "
          f"{len(report.not_honoured)} not honoured")


if __name__ == "__main__":
    cli.run(main)
