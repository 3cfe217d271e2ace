"""Generates the demo dataset: synthetic shapes as COCO JSON + JPEGs, converted to TFRecords.

    bazel build //od_tools/demo:dataset          # the cached build target (what training uses)
    bazel run //od_tools:make_demo_dataset -- --output_dir=/tmp/shapes [--num_train=600 ...]

The folder gets train.tfrecord-0000K-of-0000N, val.tfrecord-00000-of-0000M, label_map.pbtxt,
labelmap.txt, report.json, preview.png and coco/{train,val}.json + coco/images/. It appears
complete or not at all; the same flags always give the same bytes.
"""

import glob
import io
import os
from typing import Sequence

from absl import flags

from od_tools.common import cli
from od_tools.common.errors import UserError
from od_tools.common.files import atomic_dir
from od_tools.datasets.demo import DemoSpec, build_demo_dataset
from od_tools.datasets.preview import render_preview

_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Folder to create (replaced if it exists).")
_NUM_TRAIN = flags.DEFINE_integer("num_train", DemoSpec.num_train, "Training images.")
_NUM_VAL = flags.DEFINE_integer("num_val", DemoSpec.num_val, "Validation images.")
_IMAGE_SIZE = flags.DEFINE_integer("image_size", DemoSpec.image_size, "Image width and height in pixels.")
_SEED = flags.DEFINE_integer("seed", DemoSpec.seed, "Seed of everything random.")
_MIN_OBJECTS = flags.DEFINE_integer("min_objects", DemoSpec.min_objects, "Fewest shapes in an image.")
_MAX_OBJECTS = flags.DEFINE_integer("max_objects", DemoSpec.max_objects, "Most shapes in an image (a crowded scene: "
                                    "more than the TFLite model's --max_detections).")
_MIN_SIZE = flags.DEFINE_integer("min_object_size", DemoSpec.min_object_size, "Smallest shape, in pixels.")
_MAX_SIZE = flags.DEFINE_integer("max_object_size", DemoSpec.max_object_size, "Largest shape, in pixels.")
_NUM_WORKERS = flags.DEFINE_integer("num_workers", 0, "Processes that check images; 0: every available core.")


def main(argv: Sequence[str]) -> None:
    del argv  # cli.run refuses words that are not flags
    if not _OUTPUT_DIR.value:
        raise UserError("--output_dir is required: the folder to write the demo dataset to")
    if _NUM_TRAIN.value < 2 or _NUM_VAL.value < 1 or _IMAGE_SIZE.value < 2 * _MAX_SIZE.value:
        raise UserError(f"--num_train >= 2, --num_val >= 1 and --image_size >= {2 * _MAX_SIZE.value} "
                        "(twice --max_object_size) please")
    if not 1 <= _MIN_OBJECTS.value <= _MAX_OBJECTS.value or not 8 <= _MIN_SIZE.value <= _MAX_SIZE.value:
        raise UserError("--min_objects/--max_objects: 1 <= min <= max; --min_object_size/--max_object_size: "
                        "8 <= min <= max")
    spec = DemoSpec(num_train=_NUM_TRAIN.value, num_val=_NUM_VAL.value, image_size=_IMAGE_SIZE.value,
                    seed=_SEED.value, min_objects=_MIN_OBJECTS.value, max_objects=_MAX_OBJECTS.value,
                    min_object_size=_MIN_SIZE.value, max_object_size=_MAX_SIZE.value)
    output_dir = cli.workspace_path(_OUTPUT_DIR.value)
    summary = io.StringIO()
    with atomic_dir(output_dir) as folder:
        build_demo_dataset(str(folder), spec, num_workers=_NUM_WORKERS.value, out=summary)
        render_preview(sorted(glob.glob(os.path.join(folder, "val.tfrecord-*"))), os.path.join(folder, "preview.png"))
    # Built in a temporary folder (complete or nothing), reported under its final name.
    print(summary.getvalue().replace(str(folder), output_dir), end="")
    print(f"demo dataset: {output_dir} (preview: {os.path.join(output_dir, 'preview.png')})")


if __name__ == "__main__":
    cli.run(main)
