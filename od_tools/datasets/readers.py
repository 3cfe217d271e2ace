"""One entry point for every annotation format: `--input_format` -> a `Dataset`."""

from __future__ import annotations

from typing import Callable

from od_tools.common.errors import UserError
from od_tools.datasets.coco import read_coco
from od_tools.datasets.csv_table import read_csv
from od_tools.datasets.pascal_voc import read_voc
from od_tools.datasets.paths import GLOB_CHARS
from od_tools.datasets.records import Dataset
from od_tools.datasets.tfrecords import read_tfrecords
from od_tools.datasets.vott import read_vott


def _single_file(reader: Callable[[str, str | None], Dataset], what: str) -> Callable[[str, str | None], Dataset]:
    def read(annotations: str, image_dir: str | None) -> Dataset:
        if GLOB_CHARS & set(annotations):
            raise UserError(f"--annotations={annotations}: {what} is one file; give its path, not a pattern")
        return reader(annotations, image_dir)
    return read


READERS: dict[str, Callable[[str, str | None], Dataset]] = {
    "coco": _single_file(read_coco, "a COCO instances JSON"),
    "voc": read_voc,
    "vott": read_vott,
    "csv": read_csv,
    "tfrecord": lambda annotations, image_dir: read_tfrecords(annotations),
}
FORMATS = tuple(READERS)


def read_dataset(input_format: str, annotations: str, image_dir: str | None = None) -> Dataset:
    """Parses the annotations of one format; structural errors are one-line UserErrors."""
    if input_format not in READERS:
        raise UserError(f"--input_format={input_format}: unknown; use one of {', '.join(FORMATS)}")
    dataset = READERS[input_format](annotations, image_dir)
    if not dataset.records:
        raise UserError(f"{annotations}: no images in the annotations (empty dataset); check --annotations")
    return dataset
