"""The parts of the TFLite Model Metadata schema a detector needs, encoded with `flatbuffers`.

The metadata is a flatbuffer (file identifier "M001") described by the public
`metadata_schema.fbs` of TFLite Support / MediaPipe. Its own Python writers pin old protobuf
releases (tflite-support) or live in MediaPipe, which pins numpy and absl apart from
TensorFlow's stack and so has a venv of its own; this module encodes the few tables a
detector uses directly: each table below lists its fields' vtable slots in schema order, which
is all the flatbuffer wire format needs. Reading back is left to independent readers (the
schema's generated reader in MediaPipe's venv, and MediaPipe itself) so tests check this
encoder against someone else's decoder.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Callable, Sequence, Union

import flatbuffers

FILE_IDENTIFIER = b"M001"
# The name under which a TFLite model stores the metadata buffer (Model.metadata[].name).
METADATA_FIELD_NAME = "TFLITE_METADATA"


class AssociatedFileType(enum.IntEnum):
    UNKNOWN = 0
    DESCRIPTIONS = 1
    TENSOR_AXIS_LABELS = 2
    TENSOR_VALUE_LABELS = 3


class ColorSpaceType(enum.IntEnum):
    UNKNOWN = 0
    RGB = 1
    GRAYSCALE = 2


class BoundingBoxType(enum.IntEnum):
    UNKNOWN = 0
    BOUNDARIES = 1
    UPPER_LEFT = 2
    CENTER = 3


class CoordinateType(enum.IntEnum):
    RATIO = 0
    PIXEL = 1


# Union discriminants, in the order the schema declares the union members.
_CONTENT_FEATURE, _CONTENT_IMAGE, _CONTENT_BOUNDING_BOX = 1, 2, 3
_PROCESS_UNIT_NORMALIZATION = 1

# Schema versions that introduced what a detector may use (the schema's "Added in" notes).
_BASE_VERSION = (1, 0, 0)
_TENSOR_GROUPS_VERSION = (1, 2, 0)


@dataclasses.dataclass(frozen=True)
class AssociatedFile:
    name: str
    description: str
    type: AssociatedFileType


@dataclasses.dataclass(frozen=True)
class FeatureProperties:
    """A plain feature tensor (scores, classes, counts)."""


@dataclasses.dataclass(frozen=True)
class ImageProperties:
    color_space: ColorSpaceType
    default_size: tuple[int, int] | None = None  # (width, height)


@dataclasses.dataclass(frozen=True)
class BoundingBoxProperties:
    # index[k] = position in the box tensor's last axis of left, top, right, bottom.
    index: tuple[int, int, int, int]
    type: BoundingBoxType
    coordinate_type: CoordinateType


ContentProperties = Union[FeatureProperties, ImageProperties, BoundingBoxProperties]


@dataclasses.dataclass(frozen=True)
class ValueRange:
    min: int
    max: int


@dataclasses.dataclass(frozen=True)
class Content:
    properties: ContentProperties
    range: ValueRange | None = None


@dataclasses.dataclass(frozen=True)
class NormalizationOptions:
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class Stats:
    max: tuple[float, ...]
    min: tuple[float, ...]


@dataclasses.dataclass(frozen=True)
class TensorMetadata:
    name: str
    description: str
    content: Content | None = None
    normalization: NormalizationOptions | None = None
    stats: Stats | None = None
    associated_files: tuple[AssociatedFile, ...] = ()


@dataclasses.dataclass(frozen=True)
class TensorGroup:
    name: str
    tensor_names: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class SubGraphMetadata:
    name: str
    description: str
    input_tensor_metadata: tuple[TensorMetadata, ...]
    output_tensor_metadata: tuple[TensorMetadata, ...]
    output_tensor_groups: tuple[TensorGroup, ...] = ()


@dataclasses.dataclass(frozen=True)
class ModelMetadata:
    name: str
    description: str
    version: str
    subgraph_metadata: tuple[SubGraphMetadata, ...]
    author: str = ""
    license: str = ""

    def min_parser_version(self) -> str:
        """The oldest metadata parser that understands every field this metadata uses.

        The schema defines it as the largest "Added in" version among the populated fields.
        """
        version = _BASE_VERSION
        if any(sub.output_tensor_groups for sub in self.subgraph_metadata):
            version = max(version, _TENSOR_GROUPS_VERSION)
        return ".".join(str(part) for part in version)


# --- Encoding -------------------------------------------------------------------------------

_Field = tuple[int, Callable[[flatbuffers.Builder, int, object], None], object]


def _offset_slot(b: flatbuffers.Builder, slot: int, value: object) -> None:
    b.PrependUOffsetTRelativeSlot(slot, value, 0)


def _int8_slot(b: flatbuffers.Builder, slot: int, value: object) -> None:
    b.PrependInt8Slot(slot, int(value), 0)


def _uint8_slot(b: flatbuffers.Builder, slot: int, value: object) -> None:
    b.PrependUint8Slot(slot, int(value), 0)


def _int32_slot(b: flatbuffers.Builder, slot: int, value: object) -> None:
    b.PrependInt32Slot(slot, int(value), 0)


def _uint32_slot(b: flatbuffers.Builder, slot: int, value: object) -> None:
    b.PrependUint32Slot(slot, int(value), 0)


def _table(b: flatbuffers.Builder, num_slots: int, fields: Sequence[_Field]) -> int:
    """Writes one table; fields whose value is None are left out (the reader sees the default)."""
    b.StartObject(num_slots)
    for slot, put, value in fields:
        if value is not None:
            put(b, slot, value)
    return b.EndObject()


def _string(b: flatbuffers.Builder, text: str | None) -> int | None:
    return b.CreateString(text) if text else None


def _offsets(b: flatbuffers.Builder, offsets: Sequence[int]) -> int | None:
    if not offsets:
        return None
    b.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        b.PrependUOffsetTRelative(offset)
    return b.EndVector()


def _scalars(b: flatbuffers.Builder, values: Sequence[float | int], prepend: str) -> int:
    b.StartVector(4, len(values), 4)
    for value in reversed(values):
        getattr(b, prepend)(value)
    return b.EndVector()


def _associated_file(b: flatbuffers.Builder, f: AssociatedFile) -> int:
    # Slots: name, description, type, locale, version.
    name, description = _string(b, f.name), _string(b, f.description)
    return _table(b, 5, [(0, _offset_slot, name), (1, _offset_slot, description), (2, _int8_slot, f.type)])


def _content_properties(b: flatbuffers.Builder, p: ContentProperties) -> tuple[int, int]:
    if isinstance(p, FeatureProperties):
        return _CONTENT_FEATURE, _table(b, 0, [])
    if isinstance(p, ImageProperties):
        size = None
        if p.default_size is not None:
            # ImageSize slots: width, height.
            size = _table(b, 2, [(0, _uint32_slot, p.default_size[0]), (1, _uint32_slot, p.default_size[1])])
        # ImageProperties slots: color_space, default_size.
        return _CONTENT_IMAGE, _table(b, 2, [(0, _int8_slot, p.color_space), (1, _offset_slot, size)])
    index = _scalars(b, p.index, "PrependUint32")
    # BoundingBoxProperties slots: index, type, coordinate_type.
    return _CONTENT_BOUNDING_BOX, _table(
        b, 3, [(0, _offset_slot, index), (1, _int8_slot, p.type), (2, _int8_slot, p.coordinate_type)])


def _content(b: flatbuffers.Builder, c: Content) -> int:
    kind, properties = _content_properties(b, c.properties)
    value_range = None
    if c.range is not None:
        value_range = _table(b, 2, [(0, _int32_slot, c.range.min), (1, _int32_slot, c.range.max)])
    # Content slots: content_properties_type, content_properties, range.
    return _table(b, 3, [(0, _uint8_slot, kind), (1, _offset_slot, properties), (2, _offset_slot, value_range)])


def _normalization_unit(b: flatbuffers.Builder, n: NormalizationOptions) -> int:
    mean, std = _scalars(b, n.mean, "PrependFloat32"), _scalars(b, n.std, "PrependFloat32")
    options = _table(b, 2, [(0, _offset_slot, mean), (1, _offset_slot, std)])
    # ProcessUnit slots: options_type, options.
    return _table(b, 2, [(0, _uint8_slot, _PROCESS_UNIT_NORMALIZATION), (1, _offset_slot, options)])


def _tensor_metadata(b: flatbuffers.Builder, t: TensorMetadata) -> int:
    name, description = _string(b, t.name), _string(b, t.description)
    content = _content(b, t.content) if t.content is not None else None
    units = _offsets(b, [_normalization_unit(b, t.normalization)]) if t.normalization else None
    stats = None
    if t.stats is not None:
        high, low = _scalars(b, t.stats.max, "PrependFloat32"), _scalars(b, t.stats.min, "PrependFloat32")
        stats = _table(b, 2, [(0, _offset_slot, high), (1, _offset_slot, low)])
    files = _offsets(b, [_associated_file(b, f) for f in t.associated_files])
    # TensorMetadata slots: name, description, dimension_names, content, process_units, stats,
    # associated_files.
    return _table(b, 7, [(0, _offset_slot, name), (1, _offset_slot, description), (3, _offset_slot, content),
                         (4, _offset_slot, units), (5, _offset_slot, stats), (6, _offset_slot, files)])


def _tensor_group(b: flatbuffers.Builder, g: TensorGroup) -> int:
    name = _string(b, g.name)
    names = _offsets(b, [b.CreateString(n) for n in g.tensor_names])
    return _table(b, 2, [(0, _offset_slot, name), (1, _offset_slot, names)])


def _subgraph(b: flatbuffers.Builder, s: SubGraphMetadata) -> int:
    name, description = _string(b, s.name), _string(b, s.description)
    inputs = _offsets(b, [_tensor_metadata(b, t) for t in s.input_tensor_metadata])
    outputs = _offsets(b, [_tensor_metadata(b, t) for t in s.output_tensor_metadata])
    groups = _offsets(b, [_tensor_group(b, g) for g in s.output_tensor_groups])
    # SubGraphMetadata slots: name, description, input_tensor_metadata, output_tensor_metadata,
    # associated_files, input_process_units, output_process_units, input_tensor_groups,
    # output_tensor_groups, custom_metadata.
    return _table(b, 10, [(0, _offset_slot, name), (1, _offset_slot, description), (2, _offset_slot, inputs),
                          (3, _offset_slot, outputs), (8, _offset_slot, groups)])


def serialize(metadata: ModelMetadata) -> bytes:
    """The metadata flatbuffer, ready to store in a TFLite model's TFLITE_METADATA buffer."""
    b = flatbuffers.Builder(1024)
    name, description = _string(b, metadata.name), _string(b, metadata.description)
    version = _string(b, metadata.version)
    subgraphs = _offsets(b, [_subgraph(b, s) for s in metadata.subgraph_metadata])
    author, license_ = _string(b, metadata.author), _string(b, metadata.license)
    parser_version = _string(b, metadata.min_parser_version())
    # ModelMetadata slots: name, description, version, subgraph_metadata, author, license,
    # associated_files, min_parser_version.
    root = _table(b, 8, [(0, _offset_slot, name), (1, _offset_slot, description), (2, _offset_slot, version),
                         (3, _offset_slot, subgraphs), (4, _offset_slot, author), (5, _offset_slot, license_),
                         (7, _offset_slot, parser_version)])
    b.Finish(root, file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())
