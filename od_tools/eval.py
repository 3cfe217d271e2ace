"""COCO evaluation of a trained checkpoint (as `model_main_tf2.py --checkpoint_dir` evaluates it),
an exported SavedModel or a .tflite detector (the model that goes on the phone).

    bazel run //od_tools:eval -- --checkpoint_dir=runs/my_model [--render_dir=/tmp/detections]
    bazel run //od_tools:eval -- --model=exported/detect_int8.tflite --model_dir=/tmp/eval
    bazel run //od_tools:eval -- --saved_model_dir=export/saved_model --pipeline_config_path=... \
        --model_dir=/tmp/eval

Writes the OD API's COCO metrics (AP, AP50, AP75, APs/m/l, AR@1/10/100) to
<model_dir>/eval/metrics.json and TensorBoard (<model_dir>/eval); with --render_dir, PNGs of the
detections on the first --num_render images.
"""

from __future__ import annotations

import os
from typing import Sequence

from absl import flags

from od_tools.common import cli
from od_tools.common.errors import UserError
from od_tools.config import checkpoints
from od_tools.config.flags import define_pipeline_flags

FLAGS = flags.FLAGS

define_pipeline_flags(required=False)
flags.DEFINE_string("checkpoint_dir", None, "A training model_dir, a model-zoo folder or a ckpt-N prefix.")
flags.DEFINE_string("saved_model_dir", None, "An exported SavedModel (instead of a checkpoint).")
flags.DEFINE_string("model", None, "Any model form: a saved_model/ folder, a .tflite detector or a checkpoint.")
flags.DEFINE_integer("num_threads", 1, "Threads of the TFLite interpreter.", lower_bound=1)
flags.DEFINE_string("model_dir", None, "Where eval/metrics.json and eval/ summaries go (default: the "
                    "checkpoint's folder; required for a SavedModel).")
flags.DEFINE_string("metrics_path", None, "Write metrics.json here instead of <model_dir>/eval/metrics.json.")
flags.DEFINE_integer("sample_1_of_n_eval_examples", None, "Evaluate every n-th example only.", lower_bound=1)
flags.DEFINE_string("render_dir", None, "Write PNGs of detections drawn on the images here.")
flags.DEFINE_integer("num_render", None, "Images to render (default eval_config.num_visualizations).", lower_bound=0)
flags.DEFINE_float("min_score_threshold", None, "Draw detections scoring at least this (default eval_config's).")


def _default_config(source: str) -> str:
    found = checkpoints.locate(source)
    if found and found.pipeline_config:
        return found.pipeline_config
    beside = checkpoints.pipeline_near(os.path.normpath(source if os.path.isdir(source) else os.path.dirname(source)))
    if beside:
        return beside
    raise UserError(f"{source}: no pipeline.config beside it; pass --pipeline_config_path")


def main(argv: Sequence[str]) -> None:
    del argv
    given = [name for name in ("checkpoint_dir", "saved_model_dir", "model") if FLAGS[name].value]
    if len(given) != 1:
        raise UserError("give exactly one of --model (any model form), --checkpoint_dir (a checkpoint) or "
                        "--saved_model_dir (a SavedModel)")
    source = cli.workspace_path(FLAGS[given[0]].value)
    config_path = cli.workspace_path(FLAGS.pipeline_config_path) if FLAGS.pipeline_config_path \
        else _default_config(source)

    from od_tools import inference  # TensorFlow loads after flag parsing

    if given[0] == "saved_model_dir":
        if not os.path.exists(os.path.join(source, "saved_model.pb")):
            raise UserError(f"--saved_model_dir {source}: no saved_model.pb there; point at an exported SavedModel "
                            "(the saved_model/ folder exporter_main_v2 or export_tflite writes)")
        checkpoint = ""
    else:
        checkpoint = source if given[0] == "checkpoint_dir" or \
            inference.form_of(source) is inference.ModelForm.CHECKPOINT else ""
    if not checkpoint and not FLAGS.model_dir:
        raise UserError(f"--model_dir is required with --{given[0]} {source} (where to write eval/metrics.json)")
    model_dir = cli.workspace_path(FLAGS.model_dir) if FLAGS.model_dir else \
        (source if os.path.isdir(source) else os.path.dirname(source))
    if "/bazel-out/" in os.path.realpath(model_dir) or (os.path.isdir(model_dir) and not os.access(model_dir, os.W_OK)):
        raise UserError(f"{model_dir}: a Bazel output or read-only folder cannot take the results; pass "
                        "--model_dir (e.g. --model_dir=/tmp/eval)")

    from od_tools.config import Checks, Purpose, prepare  # TensorFlow loads after flag parsing
    from od_tools.evaluation import run as eval_run

    prepared = prepare(config_path, FLAGS.override, config_override=FLAGS.config_override,
                       checks=Checks(Purpose.EVAL), strict=FLAGS.strict)
    settings = eval_run.eval_settings(prepared, render_dir=cli.workspace_path(FLAGS.render_dir or ""),
                                      num_render=FLAGS.num_render, min_score=FLAGS.min_score_threshold,
                                      sample_1_of_n=FLAGS.sample_1_of_n_eval_examples)
    model = None
    if not checkpoint:
        model = inference.load(source, inference.ModelSpec(pipeline_config_path=config_path,
                                                           num_threads=FLAGS.num_threads))
    eval_run.run(prepared, checkpoint=checkpoint, model=model, source=source,
                 output_dir=os.path.join(model_dir, "eval"),
                 metrics_path=cli.workspace_path(FLAGS.metrics_path or ""), settings=settings)


if __name__ == "__main__":
    cli.run(main)
