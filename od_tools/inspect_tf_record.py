"""Statistics and problems of detection TFRecords (ours, VoTT's, the OD API scripts'), and a fix.

    bazel run //od_tools:inspect_tf_record -- 'data/train.tfrecord-*' [--fix data/fixed/train.tfrecord] [--strict]

prints per-class counts, boxes per image, image sizes and every invalid box or image, by the
same rules create_tf_record applies. --fix writes a repaired copy; --strict exits non-zero when
anything is invalid.
"""

from typing import Sequence

from absl import flags

from od_tools.common import cli
from od_tools.datasets.checks.encoded_images import CHECKS
from od_tools.datasets.inspection import InspectRequest, inspect_tf_records

_LABEL_MAP_PATH = flags.DEFINE_string(
    "label_map_path", None, "label_map.pbtxt to check classes against (default: label_map.pbtxt or VoTT's "
    "tf_label_map.pbtxt beside the records, else the records' own class ids and names).")
_FIX = flags.DEFINE_string("fix", None, "Write a repaired copy with this shard prefix, e.g. fixed/train.tfrecord.")
_NUM_SHARDS = flags.DEFINE_integer("num_shards", 0, "Shards of the --fix copy; 0: as many as the input files.")
_STRICT = flags.DEFINE_boolean("strict", False, "Exit with status 1 if any record has an issue.")
_NUM_WORKERS = flags.DEFINE_integer("num_workers", 0, "Processes that check images; 0: every available core.")
_IMAGE_CHECK = flags.DEFINE_enum(
    "image_check", "decode", list(CHECKS), "decode: decode every image once; header: header and completeness only.")
_REPORT_PATH = flags.DEFINE_string("report_path", None, "Also write the report as JSON here.")
_PREVIEW_PATH = flags.DEFINE_string(
    "preview_path", None, "Also draw the first 16 records with their boxes and classes into this PNG.")


def main(argv: Sequence[str]) -> None:
    inspect_tf_records(InspectRequest(
        patterns=[cli.workspace_path(p) for p in argv[1:]],
        label_map_path=cli.workspace_path(_LABEL_MAP_PATH.value) if _LABEL_MAP_PATH.value else None,
        fix_path=cli.workspace_path(_FIX.value) if _FIX.value else None,
        num_shards=_NUM_SHARDS.value,
        strict=_STRICT.value,
        num_workers=_NUM_WORKERS.value,
        image_check=_IMAGE_CHECK.value,
        report_path=cli.workspace_path(_REPORT_PATH.value) if _REPORT_PATH.value else None,
        preview_path=cli.workspace_path(_PREVIEW_PATH.value) if _PREVIEW_PATH.value else None,
    ))


if __name__ == "__main__":
    cli.run(main, positional_args=True)
