"""Checks a pipeline.config before anything runs, and says what the Object Detection API builds from it.

    bazel run //od_tools:validate_pipeline -- --pipeline_config_path=pipeline.config \
        [--override ...] [--purpose=train|eval|export] [--num_replicas=8] [--use_tpu] [--explain]

Every problem is reported at once, one line each: `field.path: problem; fix`. The same checks
run automatically before train, eval and export. --explain also builds the model with the OD API
and prints its parameters and anchors.
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
flags.DEFINE_bool("explain", False, "Build the model with the OD API and print its parameters and anchors.")
flags.DEFINE_string("output_path", None, "Also write the resolved config (overrides applied, num_classes "
                    "filled in, absolute paths) here.")


def describe(prepared) -> str:
    """`SSD MobileNetV2 FPN (ssd_mobilenet_v2_fpn_keras), input 320x320, 3 classes` and the like."""
    from od_tools.config import architecture, fixed_input_size

    kind = prepared.pipeline.meta_architecture
    extractor = prepared.pipeline.model.feature_extractor.type
    name = architecture.family(extractor) if kind == "ssd" else f"{kind} {extractor}"
    size = fixed_input_size(prepared.config)
    shown = f"input {size[0]}x{size[1]}" if size else "input of varying size"
    return f"{name} ({extractor}), {shown}, {prepared.num_classes} classes"


def explain(prepared) -> str:
    """Parameters and anchors of the model the OD API builds (one forward pass on zeros)."""
    import tensorflow as tf

    from od_tools.config import fixed_input_size
    from od_tools.modeling import build_model

    model = build_model(prepared.config, is_training=False)
    height, width = fixed_input_size(prepared.config) or (320, 320)
    images, shapes = model.preprocess(tf.zeros([1, height, width, 3]))
    predictions = model.predict(images, shapes)
    parameters = sum(int(tf.size(v)) for v in model.trainable_variables)
    anchors = predictions.get("anchors")
    shown = f", {int(anchors.shape[0])} anchors" if anchors is not None else ""
    return f"built: {parameters:,} trainable parameters{shown}"


def main(argv: Sequence[str]) -> None:
    del argv
    from od_tools.config import Checks, Purpose, prepare, write_pipeline_config

    path = cli.workspace_path(FLAGS.pipeline_config_path)
    prepared = prepare(path, FLAGS.override, config_override=FLAGS.config_override, strict=FLAGS.strict,
                       checks=Checks(Purpose(FLAGS.purpose), num_replicas=FLAGS.num_replicas, use_tpu=FLAGS.use_tpu))
    if FLAGS.output_path:
        write_pipeline_config(prepared.config, cli.workspace_path(FLAGS.output_path))
    print(f"{path}: OK for {FLAGS.purpose}: {describe(prepared)}")
    for note in prepared.notes:
        print(f"  note: {note}")
    if FLAGS.explain:
        print(f"  {explain(prepared)}")


if __name__ == "__main__":
    cli.run(main)
