"""One entry point for every annotation format: `--input_format` -> a `Dataset`."""

from __future__ import annotations

from typing import Callable

from od_tools.common.errors import UserError
from od_tools.datasets.formats.coco_json import read_coco
from od_tools.datasets.formats.csv_table import read_csv
from od_tools.datasets.formats.pascal_voc import read_voc
from od_tools.datasets.formats.paths import GLOB_CHARS
from od_tools.datasets.annotations.image_record import Dataset
from od_tools.datasets.formats.tfrecords import read_tfrecords
from od_tools.datasets.formats.vott import read_vott


Reader = Callable[[str, "str | None", bool], Dataset]  # (annotations, image_dir, include_masks)


def _single_file(what: str) -> Reader:
    def read(annotations: str, image_dir: str | None, include_masks: bool) -> Dataset:
        if GLOB_CHARS & set(annotations):
            raise UserError(f"--annotations={annotations}: {what} is one file; give its path, not a pattern")
        return read_coco(annotations, image_dir, include_masks)
    return read


READERS: dict[str, Reader] = {
    "coco": _single_file("a COCO instances JSON"),
    "voc": lambda annotations, image_dir, include_masks: read_voc(annotations, image_dir),
    "vott": read_vott,
    "csv": lambda annotations, image_dir, include_masks: read_csv(annotations, image_dir),
    "tfrecord": lambda annotations, image_dir, include_masks: read_tfrecords(annotations),
}
FORMATS = tuple(READERS)
# Formats whose files can hold instance masks (TFRecords keep theirs whether asked or not).
MASK_FORMATS = ("coco", "vott", "tfrecord")


def read_dataset(input_format: str, annotations: str, image_dir: str | None = None,
                 include_masks: bool = False) -> Dataset:
    """Parses the annotations of one format; structural errors are one-line UserErrors."""
    if input_format not in READERS:
        raise UserError(f"--input_format={input_format}: unknown; use one of {', '.join(FORMATS)}")
    if include_masks and input_format not in MASK_FORMATS:
        raise UserError(f"--include_masks: {input_format} annotations hold boxes only; masks come from COCO "
                        "'segmentation' (--input_format=coco), VoTT polygon regions (vott) or TFRecords with "
                        "image/object/mask (tfrecord)")
    dataset = READERS[input_format](annotations, image_dir, include_masks)
    if not dataset.records:
        raise UserError(f"{annotations}: no images in the annotations (empty dataset); check --annotations")
    return dataset
