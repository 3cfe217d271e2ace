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
_NUM_WORKERS = flags.DEFINE_integer("num_workers", 0, "Processes that check images; 0: every available core.")


def main(argv: Sequence[str]) -> None:
    del argv  # cli.run refuses words that are not flags
    if not _OUTPUT_DIR.value:
        raise UserError("--output_dir is required: the folder to write the demo dataset to")
    if _NUM_TRAIN.value < 2 or _NUM_VAL.value < 1 or _IMAGE_SIZE.value < 2 * DemoSpec.max_object_size:
        raise UserError(f"--num_train >= 2, --num_val >= 1 and --image_size >= {2 * DemoSpec.max_object_size} please")
    spec = DemoSpec(num_train=_NUM_TRAIN.value, num_val=_NUM_VAL.value, image_size=_IMAGE_SIZE.value,
                    seed=_SEED.value)
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
