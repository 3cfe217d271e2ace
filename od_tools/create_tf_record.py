r"""Annotations (COCO, Pascal VOC, VoTT, CSV) -> validated, sharded TFRecords for detection.

    bazel run //od_tools:create_tf_record -- \
        --input_format=voc --annotations=data/Annotations --image_dir=data/JPEGImages \
        --output_path=data/train.tfrecord --num_shards=4 --val_fraction=0.1 --seed=0

writes data/train.tfrecord-0000K-of-00004, data/val.tfrecord-00000-of-0000M, label_map.pbtxt
(unless --label_map_path is given), Android labelmap.txt and report.json in data/. Bad boxes
are clipped or dropped and bad images skipped, all counted in the report; --strict makes any
of them an error. Nothing is written unless the whole conversion succeeds.
"""

from typing import Sequence

from absl import flags

from od_tools.common import cli
from od_tools.common.errors import UserError
from od_tools.datasets.create import CreateRequest, create_tf_records
from od_tools.datasets.writing.grouping import SAME_IMAGE
from od_tools.datasets.checks.encoded_images import CHECKS
from od_tools.datasets.formats.readers import FORMATS

_INPUT_FORMAT = flags.DEFINE_enum(
    "input_format", None, list(FORMATS),
    "coco: instances JSON; voc: Pascal VOC XML (LabelImg); vott: a VoTT project folder (.vott and *-asset.json) "
    "or its JSON, CSV or TFRecord export; "
    "csv: filename,width,height,class,xmin,ymin,xmax,ymax; tfrecord: existing OD API TFRecords.")
_ANNOTATIONS = flags.DEFINE_string(
    "annotations", None, "The annotations: a COCO JSON file; a folder, glob or file of VOC XML or CSV; "
    "a VoTT project folder or .vott file, or an export file or folder; TFRecord files.")
_IMAGE_DIR = flags.DEFINE_string(
    "image_dir", None, "Folder the annotations' image file names are relative to (default: the annotations' "
    "folder; for VOC also ../JPEGImages; for a VoTT project, where to look for the tail of each recorded path).")
_OUTPUT_PATH = flags.DEFINE_string(
    "output_path", None, "Prefix of the (training) shards: data/train.tfrecord writes "
    "data/train.tfrecord-00000-of-0000N.")
_NUM_SHARDS = flags.DEFINE_integer("num_shards", 0, "Shards for --output_path; 0: one per ~100 MB of images.")
_VAL_FRACTION = flags.DEFINE_float(
    "val_fraction", 0.0, "Fraction of the images (by --seed) that go to the validation shards.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the train/val split and of the shuffled record order.")
_SPLIT_BY = flags.DEFINE_string(
    "split_by", None, "With --val_fraction: a regular expression over file names whose first group keeps related "
    r"images in one split, e.g. '^(.*)_frame\d+' for the frames of one video. Identical images always are.")
_SAME_IMAGE = flags.DEFINE_enum(
    "same_image", "bytes", list(SAME_IMAGE), "With --val_fraction, what makes images identical, so the split keeps "
    "them together: bytes (identical files) or pixels (also copies with other metadata or compression; decodes "
    "every image once more).")
_VAL_ANNOTATIONS = flags.DEFINE_string(
    "val_annotations", None, "Separate validation annotations (instead of --val_fraction), same format.")
_VAL_IMAGE_DIR = flags.DEFINE_string("val_image_dir", None, "--image_dir of --val_annotations (default: --image_dir).")
_VAL_OUTPUT_PATH = flags.DEFINE_string(
    "val_output_path", None, "Prefix of the validation shards (default: --output_path with 'train' replaced "
    "by 'val', else <output_path>_val).")
_NUM_VAL_SHARDS = flags.DEFINE_integer("num_val_shards", 0, "Shards for the validation set; 0: automatic.")
_LABEL_MAP_PATH = flags.DEFINE_string(
    "label_map_path", None, "label_map.pbtxt naming the class ids. Default: the classes the annotations declare "
    "(COCO categories, VoTT tags), else the class names found, sorted, ids from 1.")
_STRICT = flags.DEFINE_boolean("strict", False, "Fail (writing nothing) on any clipped, dropped or skipped data.")
_NUM_WORKERS = flags.DEFINE_integer("num_workers", 0, "Processes that check images; 0: every available core.")
_INCLUDE_MASKS = flags.DEFINE_boolean(
    "include_masks", False, "Also write each object's instance mask (image/object/mask, one image-sized PNG per "
    "object, as the OD API's create_coco_tf_record.py --include_masks does) for Mask R-CNN: from COCO "
    "'segmentation' (polygons or RLE) or VoTT polygon regions; an object without a usable mask is dropped.")
_IMAGE_CHECK = flags.DEFINE_enum(
    "image_check", "decode", list(CHECKS), "decode: decode every image once (fails exactly where TensorFlow's "
    "decoder would); header: header and completeness only (truncation, non-images), several times faster.")
_REPORT_PATH = flags.DEFINE_string("report_path", None, "JSON report (default: report.json beside the output).")


def _required(flag: flags.FlagHolder, what: str) -> str:
    if not flag.value:
        raise UserError(f"--{flag.name} is required: {what}")
    return flag.value


def _path(flag: flags.FlagHolder) -> str | None:
    return cli.workspace_path(flag.value) if flag.value else None


def main(argv: Sequence[str]) -> None:
    del argv  # cli.run refuses words that are not flags
    create_tf_records(CreateRequest(
        input_format=_required(_INPUT_FORMAT, f"one of {', '.join(FORMATS)}"),
        annotations=cli.workspace_path(_required(_ANNOTATIONS, "the annotation file or folder")),
        output_path=cli.workspace_path(_required(_OUTPUT_PATH, "the shards' prefix, e.g. data/train.tfrecord")),
        image_dir=_path(_IMAGE_DIR),
        num_shards=_NUM_SHARDS.value,
        val_fraction=_VAL_FRACTION.value,
        seed=_SEED.value,
        split_by=_SPLIT_BY.value,
        same_image=_SAME_IMAGE.value,
        val_annotations=_path(_VAL_ANNOTATIONS),
        val_image_dir=_path(_VAL_IMAGE_DIR),
        val_output_path=_path(_VAL_OUTPUT_PATH),
        num_val_shards=_NUM_VAL_SHARDS.value,
        label_map_path=_path(_LABEL_MAP_PATH),
        strict=_STRICT.value,
        include_masks=_INCLUDE_MASKS.value,
        num_workers=_NUM_WORKERS.value,
        image_check=_IMAGE_CHECK.value,
        report_path=_path(_REPORT_PATH),
    ))


if __name__ == "__main__":
    cli.run(main)
