"""Exports a trained Object Detection API detector of any architecture to a SavedModel for
serving (TF Serving, Vertex AI): `exporter_main_v2.py`, with its flags and meaning, checked.

    bazel run //od_tools:export_saved_model -- --trained_checkpoint_dir=runs/faster_rcnn \
        --output_directory=exported/ [--pipeline_config_path=...] [--input_type=image_tensor]

--input_type is exporter_main_v2's: image_tensor (uint8 images, the default),
encoded_image_string_tensor (JPEG/PNG bytes), tf_example (serialized tf.Examples) or
float_image_tensor. --trained_checkpoint_dir is a model_main_tf2 model_dir, a model-zoo folder or
a ckpt-N prefix; the pipeline.config beside it is used unless --pipeline_config_path names
another. Writes the zoo's layout (saved_model/, checkpoint/, pipeline.config) and
serve_check.json, once the SavedModel, loaded in a fresh process, serves the checkpoint's own
detections (and Mask R-CNN's masks) on --num_check_images held-out images; else nothing.
"""

from __future__ import annotations

from typing import Sequence

from absl import flags

from od_tools.common import cli
from od_tools.common.errors import UserError
from od_tools.config.flags import define_pipeline_flags
from od_tools.export.saved_model import INPUT_TYPES

define_pipeline_flags(required=False)
_INPUT_TYPE = flags.DEFINE_enum("input_type", "image_tensor", list(INPUT_TYPES), "Type of the SavedModel's input "
                                "(exporter_main_v2's --input_type).")
_CHECKPOINT = flags.DEFINE_string("trained_checkpoint_dir", None, "Training folder (latest ckpt-*), a model-zoo "
                                  "folder or a ckpt-N prefix.")
_OUTPUT = flags.DEFINE_string("output_directory", None, "Folder to write the export to (replaced atomically).")
_NUM_CHECK = flags.DEFINE_integer("num_check_images", 8, "Held-out (eval) images the reloaded SavedModel must "
                                  "detect as the checkpoint does.", lower_bound=1)
FLAGS = flags.FLAGS


def main(argv: Sequence[str]) -> None:
    del argv  # cli.run refuses words that are not flags
    from od_tools import api
    from od_tools.export.saved_model import CHECK_JSON

    missing = [name for name, value in (("--trained_checkpoint_dir", _CHECKPOINT.value),
                                        ("--output_directory", _OUTPUT.value)) if not value]
    if missing:
        raise UserError(f"{', '.join(missing)} missing: give both (and --pipeline_config_path unless the checkpoint "
                        "has a pipeline.config beside it)")
    output = cli.workspace_path(_OUTPUT.value)
    check = api.export_saved_model(api.SavedModelRequest(
        trained_checkpoint_dir=cli.workspace_path(_CHECKPOINT.value), output_directory=output,
        pipeline_config_path=cli.workspace_path(FLAGS.pipeline_config_path) if FLAGS.pipeline_config_path else None,
        overrides=tuple(FLAGS.override), config_override=FLAGS.config_override, strict=FLAGS.strict,
        input_type=_INPUT_TYPE.value, num_check_images=_NUM_CHECK.value))
    masks = "" if check.max_mask_difference is None else f", masks within {check.max_mask_difference:.2g}"
    print(f"reload check: a fresh process serving {output}/saved_model ({check.input_type}) gave the checkpoint's "
          f"{check.detections} top detections on {check.images} held-out images (boxes within "
          f"{check.max_box_difference:.2g}, scores within {check.max_score_difference:.2g}{masks}); {CHECK_JSON}")
    print(f"Wrote {output}/ (saved_model/, checkpoint/, pipeline.config)")


if __name__ == "__main__":
    cli.run(main)
