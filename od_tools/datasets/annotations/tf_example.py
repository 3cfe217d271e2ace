"""tf.Example records with the Object Detection API's keys: building them, and reading them back.

The keys are those the OD API's `TfExampleDecoder` and Model Garden's
`official.vision.dataloaders.tf_example_decoder.TfExampleDecoder` read. Building needs no
TensorFlow (worker processes serialize); reading imports it inside the function.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Sequence

from od_tools.datasets.annotations.geometry import Box
from od_tools.datasets.annotations.masks import EncodedMask, encode_png
from od_tools.datasets.annotations.image_record import ExampleData, ImageRecord, ObjectAnnotation, ReaderIssue, Units

if TYPE_CHECKING:
    import tensorflow as tf

ENCODED = "image/encoded"
FORMAT = "image/format"
HEIGHT = "image/height"
WIDTH = "image/width"
FILENAME = "image/filename"
SOURCE_ID = "image/source_id"
SHA256 = "image/key/sha256"
XMIN = "image/object/bbox/xmin"
YMIN = "image/object/bbox/ymin"
XMAX = "image/object/bbox/xmax"
YMAX = "image/object/bbox/ymax"
CLASS_TEXT = "image/object/class/text"
CLASS_LABEL = "image/object/class/label"
IS_CROWD = "image/object/is_crowd"
AREA = "image/object/area"
DIFFICULT = "image/object/difficult"
MASK = "image/object/mask"  # one PNG per object (the OD API's PNG_MASKS), or H*W floats per object

BOX_KEYS = (XMIN, YMIN, XMAX, YMAX)
PER_OBJECT_KEYS = BOX_KEYS + (CLASS_TEXT, CLASS_LABEL, IS_CROWD, AREA, DIFFICULT)


_ONE_BYTE = tuple(bytes([value]) for value in range(0x80))


def _varint(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]
    value &= (1 << 64) - 1  # int64 two's complement, as protobuf encodes negative numbers
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


# A message being built as the pieces to join and their total length: the image bytes, most of
# every record, are copied once (by the final join) instead of once per level of nesting.
Pieces = tuple[list[bytes], int]


def _delimited(number: int, pieces: Pieces) -> Pieces:
    """`pieces` as a length-delimited field (wire type 2)."""
    parts, length = pieces
    head = _varint(number << 3 | 2) + _varint(length)
    return [head, *parts], len(head) + length


def _bytes_list(values: Sequence[bytes]) -> Pieces:     # Feature.bytes_list = 1
    parts: list[bytes] = []
    length = 0
    for value in values:
        head = b"\x0a" + _varint(len(value))          # BytesList.value = 1
        parts += (head, value)
        length += len(head) + len(value)
    return _delimited(1, (parts, length))


def _packed(number: int, payload: bytes) -> Pieces:    # a packed repeated field `value = 1`, if any
    inner = _field(1, payload) if payload else b""
    return _delimited(number, ([inner], len(inner)))


def _float_list(values: Sequence[float]) -> Pieces:    # Feature.float_list = 2
    return _packed(2, struct.pack(f"<{len(values)}f", *values))


def _int64_list(values: Sequence[int]) -> Pieces:      # Feature.int64_list = 3
    return _packed(3, b"".join(_varint(v) for v in values))


_KEY_FIELDS = {key: _field(1, key.encode()) for key in (
    ENCODED, FORMAT, HEIGHT, WIDTH, FILENAME, SOURCE_ID, SHA256, MASK) + PER_OBJECT_KEYS}


def serialize_example(data: ExampleData) -> bytes:
    """The serialized tf.Example of a validated image, encoded here without TensorFlow.

    Runs in the worker processes, so the main process only writes bytes. The result is byte for
    byte what `tf.train.Example.SerializeToString(deterministic=True)` gives (map keys sorted),
    which the tests check.
    """
    objects = data.objects
    features = {
        ENCODED: _bytes_list([data.encoded]),
        FORMAT: _bytes_list([data.image_format.encode()]),
        HEIGHT: _int64_list([data.height]),
        WIDTH: _int64_list([data.width]),
        FILENAME: _bytes_list([data.filename.encode()]),
        SOURCE_ID: _bytes_list([data.source_id.encode()]),
        SHA256: _bytes_list([data.sha256.encode()]),
        XMIN: _float_list([o.box.xmin for o in objects]),
        YMIN: _float_list([o.box.ymin for o in objects]),
        XMAX: _float_list([o.box.xmax for o in objects]),
        YMAX: _float_list([o.box.ymax for o in objects]),
        CLASS_TEXT: _bytes_list([o.class_text.encode() for o in objects]),
        CLASS_LABEL: _int64_list([o.class_id for o in objects]),
        IS_CROWD: _int64_list([int(o.is_crowd) for o in objects]),
        AREA: _float_list([o.area for o in objects]),
        DIFFICULT: _int64_list([int(o.difficult) for o in objects]),
    }
    if data.with_masks:
        features[MASK] = _bytes_list([o.mask_png or b"" for o in objects])
    # Example.features = 1 -> Features.feature = 1: map entries {key = 1, value = 2}.
    parts: list[bytes] = []
    length = 0
    for key in sorted(features):
        value_parts, value_length = _delimited(2, features[key])
        key_field = _KEY_FIELDS[key]
        entry_parts, entry_length = _delimited(1, ([key_field, *value_parts], len(key_field) + value_length))
        parts += entry_parts
        length += entry_length
    return b"".join(_delimited(1, (parts, length))[0])


def _values(feature_map: "tf.train.Features", key: str) -> list | None:
    if key not in feature_map:
        return None
    feature = feature_map[key]
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


def _masks(values: list | None, count: int, features) -> list[EncodedMask] | None:
    """`image/object/mask` as one PNG per object: PNG strings as they are, numerical masks (H*W
    floats per object, the OD API's NUMERICAL_MASKS) encoded; None when the record has none."""
    if not values:
        return None
    if isinstance(values[0], bytes):
        if len(values) != count:
            raise ValueError(f"{MASK} has {len(values)} masks but {XMIN} has {count} boxes")
        return [EncodedMask(v) for v in values]
    import numpy as np

    height = int((_values(features, HEIGHT) or [0])[0])
    width = int((_values(features, WIDTH) or [0])[0])
    if height <= 0 or width <= 0 or len(values) != count * height * width:
        raise ValueError(f"{MASK} holds {len(values)} numbers, not {count} masks of {HEIGHT} x {WIDTH}")
    pixels = (np.asarray(values, dtype=np.float32).reshape(count, height, width) > 0).astype(np.uint8)
    return [EncodedMask(encode_png(p)) for p in pixels]


def parse_example(serialized: bytes, where: str) -> ImageRecord:
    """An OD API tf.Example as an ImageRecord; malformed entries carry a `record_malformed` issue.

    `source_id` is kept as written; the TFRecord reader checks ids across the whole input.
    """
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    def malformed(detail: str, filename: str = "") -> ImageRecord:
        return ImageRecord(where=where, filename=filename, source_id="", objects=(), units=Units.NORMALIZED,
                           issues=(ReaderIssue("record_malformed", detail),))

    example = tf.train.Example()
    try:
        example.ParseFromString(serialized)
    except DecodeError:
        return malformed("not a tf.Example")
    features = example.features.feature
    filename = _text((_values(features, FILENAME) or [b""])[0])
    if filename:
        where = f"{where} ('{filename}')"
    encoded = _values(features, ENCODED)
    if not encoded or not isinstance(encoded[0], bytes) or not encoded[0]:
        return malformed(f"no {ENCODED}", filename)

    lists = {key: _values(features, key) for key in PER_OBJECT_KEYS}
    count = len(lists[XMIN] or [])
    for key in PER_OBJECT_KEYS:
        values = lists[key]
        required = key in BOX_KEYS
        allowed = (count,) if required else (0, count)
        if (values is None and required) or (values is not None and len(values) not in allowed):
            have = "missing" if values is None else f"{len(values)} values"
            return malformed(f"{key} is {have} but {XMIN} has {count}", filename)

    try:
        masks = _masks(_values(features, MASK), count, features)
    except ValueError as e:
        return malformed(str(e), filename)

    def per_object(key: str, index: int, default=None):
        values = lists[key]
        return values[index] if values else default

    objects = []
    try:
        for i in range(count):
            text = per_object(CLASS_TEXT, i)
            label = per_object(CLASS_LABEL, i)
            area = per_object(AREA, i)
            objects.append(ObjectAnnotation(
                where=f"object {i}",
                box=Box(*(float(lists[key][i]) for key in BOX_KEYS)),
                class_name=_text(text) if text else None,
                class_id=int(label) if label is not None else None,
                is_crowd=bool(per_object(IS_CROWD, i, 0)),
                area=float(area) if area is not None else None,
                difficult=bool(per_object(DIFFICULT, i, 0)),
                mask=masks[i] if masks else None,
            ))
    except (TypeError, ValueError, AttributeError):
        return malformed("a per-object feature has the wrong type (e.g. bytes where floats belong)", filename)
    height = (_values(features, HEIGHT) or [0])[0]
    width = (_values(features, WIDTH) or [0])[0]
    return ImageRecord(
        where=where,
        filename=filename,
        source_id=_text((_values(features, SOURCE_ID) or [b""])[0]),
        objects=tuple(objects),
        units=Units.NORMALIZED,
        encoded=encoded[0],
        declared_size=(int(width), int(height)) if width > 0 and height > 0 else None,
    )
