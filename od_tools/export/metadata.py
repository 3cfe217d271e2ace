"""TFLite Model Metadata for a detector, so MediaPipe and the Task Library load it unchanged.

What is written (see metadata_schema.py for the encoding):
- input "image": ImageProperties (RGB, default size), for a float input a NormalizationOptions
  process unit (mean/std) and Stats (the normalized pixel range); for a uint8 input Stats 0..255.
- outputs, in the model's output order: "location" (BoundingBoxProperties: BOUNDARIES,
  index [1, 0, 3, 2] since boxes are ymin, xmin, ymax, xmax; RATIO coordinates),
  "category" (the label file as TENSOR_VALUE_LABELS), "score", "number of detections";
  the first three carry ValueRange 2..2 (the axis that indexes detections) and form the
  output tensor group "detection_result".
- min_parser_version from the fields used.
The label file is also zipped onto the end of the model, as the metadata format requires for
associated files (stored uncompressed, fixed timestamps: byte-identical output).
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from typing import Mapping, Sequence

from od_tools.export import metadata_schema as ms
from od_tools.export import tflite_model
from od_tools.label_map import ANDROID_LABELS_FILE, android_labels_text

# Output tensor metadata names that MediaPipe's and the Task Library's detectors look up.
LOCATION, CATEGORY, SCORE, NUMBER = "location", "category", "score", "number of detections"
DETECTION_GROUP = "detection_result"
_DETECTION_AXIS = ms.ValueRange(min=2, max=2)
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclasses.dataclass(frozen=True)
class DetectorDescription:
    name: str
    description: str
    version: str
    input_height: int
    input_width: int
    uint8_input: bool
    mean: float
    std: float
    labels: tuple[str, ...]
    author: str = "od_toolchain"
    license: str = ""


def detector_metadata(d: DetectorDescription) -> ms.ModelMetadata:
    if d.uint8_input:
        normalization = None
        stats = ms.Stats(max=(255.0,), min=(0.0,))
    else:
        normalization = ms.NormalizationOptions(mean=(d.mean,), std=(d.std,))
        stats = ms.Stats(max=((255.0 - d.mean) / d.std,), min=((0.0 - d.mean) / d.std,))
    image = ms.TensorMetadata(
        name="image",
        description=f"RGB image, {d.input_width}x{d.input_height}"
                    + (", raw pixels 0..255." if d.uint8_input else f", (pixel - {d.mean}) / {d.std}."),
        content=ms.Content(ms.ImageProperties(ms.ColorSpaceType.RGB, (d.input_width, d.input_height))),
        normalization=normalization,
        stats=stats,
    )
    labels = ms.AssociatedFile(ANDROID_LABELS_FILE, "Labels of the detected classes, one per line: line i is class i.",
                               ms.AssociatedFileType.TENSOR_VALUE_LABELS)
    outputs = (
        ms.TensorMetadata(
            LOCATION, "The locations of the detected boxes: ymin, xmin, ymax, xmax in [0, 1].",
            ms.Content(ms.BoundingBoxProperties((1, 0, 3, 2), ms.BoundingBoxType.BOUNDARIES,
                                                ms.CoordinateType.RATIO), _DETECTION_AXIS)),
        ms.TensorMetadata(CATEGORY, "The categories of the detected boxes.",
                          ms.Content(ms.FeatureProperties(), _DETECTION_AXIS), associated_files=(labels,)),
        ms.TensorMetadata(SCORE, "The scores of the detected boxes.",
                          ms.Content(ms.FeatureProperties(), _DETECTION_AXIS)),
        ms.TensorMetadata(NUMBER, "The number of the detected boxes.", ms.Content(ms.FeatureProperties())),
    )
    subgraph = ms.SubGraphMetadata(
        name="ObjectDetector",
        description="Finds the known objects in an image: boxes, classes and scores.",
        input_tensor_metadata=(image,),
        output_tensor_metadata=outputs,
        output_tensor_groups=(ms.TensorGroup(DETECTION_GROUP, (LOCATION, CATEGORY, SCORE)),),
    )
    return ms.ModelMetadata(name=d.name, description=d.description, version=d.version,
                            subgraph_metadata=(subgraph,), author=d.author, license=d.license)


def _add_files(archive: zipfile.ZipFile, files: Mapping[str, bytes]) -> None:
    """Stored uncompressed (readers map them in place), fixed timestamps, in name order."""
    for name in sorted(files):
        info = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
        info.external_attr = 0o644 << 16
        archive.writestr(info, files[name], compress_type=zipfile.ZIP_STORED)


def append_zip(model_bytes: bytes, files: Mapping[str, bytes]) -> bytes:
    """The model with the files zipped onto its end (the zip's offsets count from the model's
    start, so both the model and the archive read as they are)."""
    buffer = io.BytesIO(model_bytes)
    buffer.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_STORED) as archive:
        _add_files(archive, files)
    return buffer.getvalue()


def attach(model_bytes: bytes, description: DetectorDescription) -> bytes:
    """The model with its metadata buffer and the label file attached."""
    metadata = ms.serialize(detector_metadata(description))
    with_metadata = tflite_model.set_metadata_buffer(model_bytes, ms.METADATA_FIELD_NAME, metadata)
    return append_zip(with_metadata, {ANDROID_LABELS_FILE: android_labels_text(description.labels).encode("utf-8")})


def associated_files(model_bytes: bytes) -> dict[str, bytes]:
    """The files zipped onto a model (empty when there are none)."""
    try:
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except zipfile.BadZipFile:
        return {}
