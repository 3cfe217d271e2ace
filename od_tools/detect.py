"""Run a detector on your own pictures and videos, and see what it finds.

    bazel run //od_tools:detect -- --model=exported/detect_int8.tflite --source=~/Pictures --output_dir=/tmp/found
    bazel run //od_tools:detect -- --model=exported/saved_model --source=clip.mp4 --output_dir=/tmp/clip
    bazel run //od_tools:detect -- --model=exported/saved_model --compare=exported/detect_int8.tflite \\
        --source=photos/ --output_dir=/tmp/compare

--model: an exported saved_model/ folder, a .tflite detector (labels from its metadata) or a
checkpoint (model_dir, model-zoo folder or ckpt-N, with its pipeline.config). --source: an image,
a folder (recursively), a glob, a .txt list of paths, a video (mp4, avi, mov, mkv) or TFRecords
(their ground truth is drawn beside the detections). Writes annotated pictures at their original
size, detections.json (COCO results) with images.json (the COCO images and categories it refers
to), summary.json; --save_txt, --save_crops; a video becomes an annotated video with a JSON line
per frame.
"""

from __future__ import annotations

from typing import Sequence

from absl import flags

from od_tools.common import cli
from od_tools.common.errors import UserError

FLAGS = flags.FLAGS

flags.DEFINE_string("model", None, "A saved_model/ folder, a .tflite detector or a checkpoint.", required=True)
flags.DEFINE_string("source", None, "An image, a folder, a glob, a .txt list, a video or TFRecords.", required=True)
flags.DEFINE_string("output_dir", None, "Where the outputs go (replaced when the run succeeds).", required=True)
flags.DEFINE_string("compare", None, "A second model run on the same pictures, drawn beside the first, with "
                    "their agreement (typically the SavedModel and its int8 TFLite).")
flags.DEFINE_string("label_map", None, "A label_map.pbtxt naming the classes (default: the model's own).")
flags.DEFINE_string("pipeline_config_path", None, "The model's pipeline.config (default: the one beside it).")
flags.DEFINE_float("min_score_threshold", None, "Keep detections scoring at least this (default: the config's "
                   "eval_config.min_score_threshold, else 0.5).", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("max_detections", 100, "Keep at most this many detections per picture.", lower_bound=1)
flags.DEFINE_list("classes", [], "Keep only these classes (names or ids, comma-separated).")
flags.DEFINE_integer("num_threads", 1, "Threads of the TFLite interpreter.", lower_bound=1)
flags.DEFINE_enum("interpreter", "ai_edge_litert", ["ai_edge_litert", "tf.lite"], "TFLite interpreter.")
flags.DEFINE_integer("line_thickness", 0, "Box line width in pixels (0: by picture size).", lower_bound=0)
flags.DEFINE_boolean("no_images", False, "Write the JSON only, no annotated pictures or videos.")
flags.DEFINE_boolean("save_txt", False, "Also write labels/<name>.txt: class x_center y_center width height "
                     "score per box (normalised).")
flags.DEFINE_boolean("save_crops", False, "Also write crops/<class>/<name>_<k>.jpg of every detection.")
flags.DEFINE_boolean("strict", False, "Stop at an unreadable picture instead of skipping it.")


def main(argv: Sequence[str]) -> None:
    del argv
    from od_tools import inference  # TensorFlow loads after flag parsing

    spec = inference.ModelSpec(label_map_path=cli.workspace_path(FLAGS.label_map or ""),
                               pipeline_config_path=cli.workspace_path(FLAGS.pipeline_config_path or ""),
                               num_threads=FLAGS.num_threads, interpreter=FLAGS.interpreter)
    model = inference.load(cli.workspace_path(FLAGS.model), spec)
    compare = None
    if FLAGS.compare:
        compare = inference.load(cli.workspace_path(FLAGS.compare),
                                 inference.ModelSpec(label_map_path=spec.label_map_path, num_threads=spec.num_threads,
                                                     interpreter=spec.interpreter))
    settings = inference.DetectSettings(
        output_dir=cli.workspace_path(FLAGS.output_dir), min_score=FLAGS.min_score_threshold,
        max_detections=FLAGS.max_detections, classes=tuple(FLAGS.classes), strict=FLAGS.strict,
        output=inference.OutputOptions(save_images=not FLAGS.no_images, save_txt=FLAGS.save_txt,
                                       save_crops=FLAGS.save_crops, line_thickness=FLAGS.line_thickness))
    if not settings.output_dir:
        raise UserError("--output_dir is empty; name a folder for the outputs")
    summary = inference.run(model, cli.workspace_path(FLAGS.source), settings, compare)
    print(summary.text())
    print(f"outputs in {settings.output_dir}")


if __name__ == "__main__":
    cli.run(main)
