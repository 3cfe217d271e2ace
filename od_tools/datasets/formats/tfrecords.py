"""Existing TFRecords as input: VoTT's TFRecord export, the OD API scripts' output, our own.

The records hold their images, so they are read twice rather than held in memory: a first
pass notes class ids and names and source ids, then `TFRecordSource` yields the records on
demand. Class ids that map one-to-one onto class names become the label map (VoTT's 0-based
tag indexes shifted to start at 1), and source ids that are not unique decimal numbers are
renumbered, because Model Garden's COCO evaluation parses them as integers.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Iterator

from od_tools.common.errors import UserError, first_line
from od_tools.datasets.formats.paths import expand
from od_tools.datasets.annotations.image_record import Dataset, ImageRecord, ReaderIssue
from od_tools.datasets.annotations.tf_example import parse_example
from od_tools.label_map import read_label_map

_TFRECORD_NAME = re.compile(r"\.(tfrecords?|records?)(-\d+-of-\d+)?$|-\d{5}-of-\d{5}$", re.IGNORECASE)


def is_tfrecord_name(name: str) -> bool:
    """`x.tfrecord`, `x.record`, `x.tfrecord-00000-of-00004`, `x-00000-of-00004`."""
    return bool(_TFRECORD_NAME.search(name))


def tfrecord_files(pattern: str, flag: str = "--annotations") -> list[str]:
    return expand(pattern, is_tfrecord_name, "TFRecord files (*.tfrecord, *.record, *-00000-of-0000N)", flag)


def read_serialized(path: str) -> Iterator[bytes]:
    """The raw records of one TFRecord file; a damaged file is a one-line error naming it."""
    import tensorflow as tf

    index = 0
    try:
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            yield record
            index += 1
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
        reason = first_line(e, limit=1000).split(";")[0]
        raise UserError(f"{path}: record {index} is damaged ({reason}); the file is truncated or not a TFRecord: "
                        "export it again") from e


def _malformed(record: ImageRecord) -> bool:
    return any(issue.kind == "record_malformed" for issue in record.issues)


@dataclasses.dataclass
class _Scan:
    """What the first pass learns: enough to decide label map and source ids without the images."""

    count: int = 0
    source_ids: set = dataclasses.field(default_factory=set)
    unique_decimal_ids: bool = True
    pairs: set = dataclasses.field(default_factory=set)
    names: set = dataclasses.field(default_factory=set)
    unpaired: bool = False   # an object without both a class id and a name

    def add(self, record: ImageRecord) -> None:
        self.count += 1
        if not _malformed(record):
            if not record.source_id.isdecimal() or record.source_id in self.source_ids:
                self.unique_decimal_ids = False
            self.source_ids.add(record.source_id)
        for obj in record.objects:
            if obj.class_name:
                self.names.add(obj.class_name)
            if obj.class_id is None or not obj.class_name:
                self.unpaired = True
            else:
                self.pairs.add((obj.class_id, obj.class_name))

    def classes(self) -> tuple[tuple[tuple[int, str], ...] | None, str]:
        """The records' own (id, name) pairs if they match one to one, else their names sorted."""
        ids = {i for i, _ in self.pairs}
        if self.pairs and not self.unpaired and len(ids) == len(self.pairs) == len(self.names) and min(ids) >= 0:
            if min(ids) == 0:
                shifted = tuple(sorted((i + 1, n) for i, n in self.pairs))
                return shifted, "class ids of the records, shifted to start at 1"
            return tuple(sorted(self.pairs)), "class ids and names of the records"
        if self.names:
            return tuple(enumerate(sorted(self.names), start=1)), "class names found in the records, sorted"
        return None, ""


def _renumbered(record: ImageRecord, index: int) -> ImageRecord:
    new_id = str(index + 1)
    if record.source_id == new_id or _malformed(record):
        return dataclasses.replace(record, source_id=new_id)
    was = f"'{record.source_id}'" if record.source_id else "missing"
    issue = ReaderIssue("source_id_replaced", f"image/source_id {was} replaced by {new_id}")
    return dataclasses.replace(record, source_id=new_id, issues=record.issues + (issue,))


@dataclasses.dataclass(frozen=True)
class TFRecordSource:
    """The records of TFRecord files, parsed on demand: a sized, re-iterable record sequence."""

    files: tuple[str, ...]
    count: int
    renumber: bool   # source ids are not unique decimal numbers: number them 1..count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[ImageRecord]:
        index = 0
        for path in self.files:
            for position, serialized in enumerate(read_serialized(path)):
                record = parse_example(serialized, f"{path}: record {position}")
                yield _renumbered(record, index) if self.renumber else record
                index += 1

    @property
    def total_bytes(self) -> int:
        return sum(os.path.getsize(f) for f in self.files)


# Label maps that may sit beside TFRecords: ours, and VoTT's TFRecord export's.
LABEL_MAP_NAMES = ("label_map.pbtxt", "tf_label_map.pbtxt")


def label_map_beside(files: list[str]) -> str | None:
    """The label map in the records' folder, if there is exactly one candidate."""
    for folder in sorted({os.path.dirname(f) for f in files}):
        for name in LABEL_MAP_NAMES:
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
    return None


def read_tfrecord_files(files: list[str], source: str, in_memory: bool = True) -> Dataset:
    """The records of `files` as a Dataset (streamed unless `in_memory`, which shuffling needs);
    a label map beside them declares the classes."""
    scan = _Scan()
    for path in files:
        for position, serialized in enumerate(read_serialized(path)):
            scan.add(parse_example(serialized, f"{path}: record {position}"))
    stream = TFRecordSource(tuple(files), scan.count, renumber=not scan.unique_decimal_ids)
    records = tuple(stream) if in_memory else stream
    beside = label_map_beside(files)
    if beside is not None:
        label_map = read_label_map(beside)
        return Dataset(records, source=source, classes_origin=f"{os.path.basename(beside)} beside the records",
                       declared_classes=tuple((item.id, item.name) for item in label_map.items))
    declared, origin = scan.classes()
    return Dataset(records, source=source, declared_classes=declared, classes_origin=origin)


def read_tfrecords(pattern: str) -> Dataset:
    return read_tfrecord_files(tfrecord_files(pattern), source=pattern)
