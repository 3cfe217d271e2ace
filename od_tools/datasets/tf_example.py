"""tf.Example records with the Object Detection API's keys: building them, and reading them back.

The keys are those the OD API's `TfExampleDecoder` and Model Garden's
`official.vision.dataloaders.tf_example_decoder.TfExampleDecoder` read. TensorFlow is imported
inside the functions: worker processes, which only validate images, never load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from od_tools.datasets.geometry import Box
from od_tools.datasets.records import ExampleData, ImageRecord, ObjectAnnotation, ReaderIssue, Units

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

BOX_KEYS = (XMIN, YMIN, XMAX, YMAX)
PER_OBJECT_KEYS = BOX_KEYS + (CLASS_TEXT, CLASS_LABEL, IS_CROWD, AREA, DIFFICULT)


def build_example(data: ExampleData) -> bytes:
    """The serialized tf.Example of a validated image (deterministic bytes)."""
    import tensorflow as tf

    def to_bytes(values: Sequence[bytes]) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    def to_floats(values: Sequence[float]) -> tf.train.Feature:
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    def to_ints(values: Sequence[int]) -> tf.train.Feature:
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    objects = data.objects
    feature = {
        ENCODED: to_bytes([data.encoded]),
        FORMAT: to_bytes([data.image_format.encode()]),
        HEIGHT: to_ints([data.height]),
        WIDTH: to_ints([data.width]),
        FILENAME: to_bytes([data.filename.encode()]),
        SOURCE_ID: to_bytes([data.source_id.encode()]),
        SHA256: to_bytes([data.sha256.encode()]),
        XMIN: to_floats([o.box.xmin for o in objects]),
        YMIN: to_floats([o.box.ymin for o in objects]),
        XMAX: to_floats([o.box.xmax for o in objects]),
        YMAX: to_floats([o.box.ymax for o in objects]),
        CLASS_TEXT: to_bytes([o.class_text.encode() for o in objects]),
        CLASS_LABEL: to_ints([o.class_id for o in objects]),
        IS_CROWD: to_ints([int(o.is_crowd) for o in objects]),
        AREA: to_floats([o.area for o in objects]),
        DIFFICULT: to_ints([int(o.difficult) for o in objects]),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)


def _values(feature_map: "tf.train.Features", key: str) -> list | None:
    if key not in feature_map:
        return None
    feature = feature_map[key]
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def _text(value: bytes) -> str:
    return value.decode("utf-8", errors="replace")


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
        if (values is None and required) or (values is not None and len(values) not in ((count,) if required else (0, count))):
            have = "missing" if values is None else f"{len(values)} values"
            return malformed(f"{key} is {have} but {XMIN} has {count}", filename)

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
