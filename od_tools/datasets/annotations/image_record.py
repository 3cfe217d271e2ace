"""The common typed record every annotation reader produces, and what validation makes of it.

Readers only parse: an `ImageRecord` says where an image is (or holds its bytes), what the
annotation file claims about it, and its objects in the file's own units. Validation turns it
into an `ExampleData`: normalized, clipped, with class ids from the label map, ready to become a
tf.Example. Both are plain picklable data, so records travel to worker processes as they are.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Sequence

from od_tools.datasets.annotations.geometry import Box
from od_tools.datasets.annotations.masks import Mask


class Units(enum.Enum):
    PIXELS = "pixels"          # COCO, Pascal VOC, VoTT JSON/CSV, generic CSV
    NORMALIZED = "normalized"  # TFRecords (VoTT's export, the OD API scripts' output)


@dataclasses.dataclass(frozen=True)
class ObjectAnnotation:
    """One annotated object as its file states it."""

    where: str                     # e.g. "annotation id 12", "line 7", "object 2"
    box: Box
    class_name: str | None = None  # None: the file gives only an id (or nothing)
    class_id: int | None = None    # the file's own id, when it has one (TFRecords)
    is_crowd: bool = False
    area: float | None = None      # pixels, when the file gives one (COCO)
    difficult: bool = False
    mask: Mask | None = None       # read only when masks are asked for (or a TFRecord holds them)


@dataclasses.dataclass(frozen=True)
class ReaderIssue:
    """A problem the reader found that validation reports (e.g. a malformed TFRecord)."""

    kind: str
    detail: str


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    """One image and its annotations, before validation."""

    where: str                                   # names the record in messages
    filename: str                                # becomes image/filename
    source_id: str                               # decimal id, unique within the dataset
    objects: tuple[ObjectAnnotation, ...]
    units: Units
    image_path: str | None = None                # where to read the encoded image ...
    encoded: bytes | None = None                 # ... or its bytes (TFRecord inputs)
    declared_size: tuple[int, int] | None = None  # (width, height) the annotation claims
    issues: tuple[ReaderIssue, ...] = ()
    missing_hint: str = ""                       # appended to the missing-image message


@dataclasses.dataclass(frozen=True)
class ObjectData:
    box: Box                 # normalized, inside [0, 1]
    class_id: int
    class_text: str
    is_crowd: bool
    area: float              # pixels
    difficult: bool
    mask_png: bytes | None = None   # image-sized PNG of 0/1, when the example carries masks


@dataclasses.dataclass(frozen=True)
class ExampleData:
    """A validated image, everything a tf.Example needs."""

    encoded: bytes
    size_bytes: int          # len(encoded), kept when the bytes travel inside a serialized record
    image_format: str        # "jpeg" or "png"
    width: int
    height: int
    filename: str
    source_id: str
    sha256: str              # hex digest of `encoded`
    objects: tuple[ObjectData, ...]
    with_masks: bool = False  # writes image/object/mask (empty for an image without objects)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """What a reader found: the records and, where the format declares them, the classes.

    `records` is a tuple, or for TFRecord inputs read by inspection a sized iterable that
    parses records on demand (their images would not fit in memory).
    """

    records: Sequence[ImageRecord]
    source: str                                       # the annotations, for messages
    declared_classes: tuple[tuple[int, str], ...] | None = None
    classes_origin: str = ""                          # e.g. "COCO categories of x.json"
