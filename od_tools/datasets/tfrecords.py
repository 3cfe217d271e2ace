"""Existing TFRecords as input: VoTT's TFRecord export, the OD API scripts' output, our own.

Records are read whole (their images are inside). Class ids and source ids found in them are
checked across the input: class ids that map one-to-one onto class names become the label map
(VoTT's 0-based tag indexes shifted to start at 1), and source ids that are not unique decimal
numbers are renumbered, because Model Garden's COCO evaluation parses them as integers.
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Iterator

from od_tools.common.errors import UserError
from od_tools.datasets.paths import expand
from od_tools.datasets.records import Dataset, ImageRecord, ReaderIssue
from od_tools.datasets.tf_example import parse_example
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
        reason = str(e).splitlines()[0].split(";")[0]
        raise UserError(f"{path}: record {index} is damaged ({reason}); the file is truncated or not a TFRecord: "
                        "export it again") from e


def _malformed(record: ImageRecord) -> bool:
    return any(issue.kind == "record_malformed" for issue in record.issues)


def _renumber_source_ids(records: list[ImageRecord]) -> list[ImageRecord]:
    ids = [r.source_id for r in records if not _malformed(r)]
    if all(i.isdecimal() for i in ids) and len(set(ids)) == len(ids):
        return records
    renumbered = []
    for index, record in enumerate(records):
        new_id = str(index + 1)
        if record.source_id == new_id or _malformed(record):
            renumbered.append(dataclasses.replace(record, source_id=new_id))
            continue
        was = f"'{record.source_id}'" if record.source_id else "missing"
        issue = ReaderIssue("source_id_replaced", f"image/source_id {was} replaced by {new_id}")
        renumbered.append(dataclasses.replace(record, source_id=new_id, issues=record.issues + (issue,)))
    return renumbered


def classes_from_records(records: list[ImageRecord]) -> tuple[tuple[tuple[int, str], ...] | None, str]:
    """The (id, name) pairs the records use, if ids and names match one to one."""
    pairs = set()
    for record in records:
        for obj in record.objects:
            if obj.class_id is None or not obj.class_name:
                return None, ""
            pairs.add((obj.class_id, obj.class_name))
    ids = {i for i, _ in pairs}
    names = {n for _, n in pairs}
    if not pairs or len(ids) != len(pairs) or len(names) != len(pairs) or min(ids) < 0:
        return None, ""
    if min(ids) == 0:
        return tuple(sorted((i + 1, n) for i, n in pairs)), "class ids of the records, shifted to start at 1"
    return tuple(sorted(pairs)), "class ids and names of the records"


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


def read_tfrecord_files(files: list[str], source: str) -> Dataset:
    """All records of `files` as a Dataset; a label map beside them declares the classes."""
    records = []
    for path in files:
        for index, serialized in enumerate(read_serialized(path)):
            records.append(parse_example(serialized, f"{path}: record {index}"))
    records = _renumber_source_ids(records)
    beside = label_map_beside(files)
    if beside is not None:
        label_map = read_label_map(beside)
        return Dataset(tuple(records), source=source, classes_origin=f"{os.path.basename(beside)} beside the records",
                       declared_classes=tuple((item.id, item.name) for item in label_map.items))
    declared, origin = classes_from_records(records)
    return Dataset(tuple(records), source=source, declared_classes=declared, classes_origin=origin)


def read_tfrecords(pattern: str) -> Dataset:
    return read_tfrecord_files(tfrecord_files(pattern), source=pattern)
