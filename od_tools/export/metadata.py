"""TFLite Model Metadata for a detector, so MediaPipe and the Task Library load it unchanged.

The metadata is the flatbuffer of `metadata_schema.fbs` (file identifier "M001"), built with the
schema's generated Python object API as the pinned MediaPipe wheel ships it
(`metadata_schema_py_generated`, copied out of the mobile venv at build time; it needs only
`flatbuffers`, so MediaPipe itself stays out of TensorFlow's venv). What is written:
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
from typing import Mapping

import flatbuffers

from od_tools.export import metadata_schema_py_generated as schema
from od_tools.export import tflite_model
from od_tools.label_map import ANDROID_LABELS_FILE, android_labels_text

# Output tensor metadata names that MediaPipe's and the Task Library's detectors look up.
LOCATION, CATEGORY, SCORE, NUMBER = "location", "category", "score", "number of detections"
DETECTION_GROUP = "detection_result"
# The name under which a TFLite model stores the metadata buffer (Model.metadata[].name).
METADATA_FIELD_NAME = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
# The oldest parser that reads every field used: the schema's "Added in" version of the newest
# one, output_tensor_groups (1.2.0); the rest is in 1.0.0.
MIN_PARSER_VERSION = "1.2.0"
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


def _detection_content(properties: object, kind: int) -> schema.ContentT:
    """Content of a per-detection output: its axis 2 indexes the detections."""
    return schema.ContentT(contentPropertiesType=kind, contentProperties=properties,
                           range=schema.ValueRangeT(min=2, max=2))


def detector_metadata(d: DetectorDescription) -> schema.ModelMetadataT:
    if d.uint8_input:
        process_units = None
        stats = schema.StatsT(max=[255.0], min=[0.0])
    else:
        process_units = [schema.ProcessUnitT(
            optionsType=schema.ProcessUnitOptions.NormalizationOptions,
            options=schema.NormalizationOptionsT(mean=[d.mean], std=[d.std]))]
        stats = schema.StatsT(max=[(255.0 - d.mean) / d.std], min=[(0.0 - d.mean) / d.std])
    image = schema.TensorMetadataT(
        name="image",
        description=f"RGB image, {d.input_width}x{d.input_height}"
                    + (", raw pixels 0..255." if d.uint8_input else f", (pixel - {d.mean}) / {d.std}."),
        content=schema.ContentT(
            contentPropertiesType=schema.ContentProperties.ImageProperties,
            contentProperties=schema.ImagePropertiesT(
                colorSpace=schema.ColorSpaceType.RGB,
                defaultSize=schema.ImageSizeT(width=d.input_width, height=d.input_height))),
        processUnits=process_units,
        stats=stats,
    )
    labels = schema.AssociatedFileT(name=ANDROID_LABELS_FILE,
                                    description="Labels of the detected classes, one per line: line i is class i.",
                                    type=schema.AssociatedFileType.TENSOR_VALUE_LABELS)
    feature = schema.ContentProperties.FeatureProperties
    outputs = [
        schema.TensorMetadataT(
            name=LOCATION, description="The locations of the detected boxes: ymin, xmin, ymax, xmax in [0, 1].",
            content=_detection_content(schema.BoundingBoxPropertiesT(
                index=[1, 0, 3, 2], type=schema.BoundingBoxType.BOUNDARIES,
                coordinateType=schema.CoordinateType.RATIO), schema.ContentProperties.BoundingBoxProperties)),
        schema.TensorMetadataT(name=CATEGORY, description="The categories of the detected boxes.",
                               content=_detection_content(schema.FeaturePropertiesT(), feature),
                               associatedFiles=[labels]),
        schema.TensorMetadataT(name=SCORE, description="The scores of the detected boxes.",
                               content=_detection_content(schema.FeaturePropertiesT(), feature)),
        schema.TensorMetadataT(name=NUMBER, description="The number of the detected boxes.",
                               content=schema.ContentT(contentPropertiesType=feature,
                                                       contentProperties=schema.FeaturePropertiesT())),
    ]
    subgraph = schema.SubGraphMetadataT(
        name="ObjectDetector",
        description="Finds the known objects in an image: boxes, classes and scores.",
        inputTensorMetadata=[image],
        outputTensorMetadata=outputs,
        outputTensorGroups=[schema.TensorGroupT(name=DETECTION_GROUP, tensorNames=[LOCATION, CATEGORY, SCORE])],
    )
    return schema.ModelMetadataT(name=d.name, description=d.description, version=d.version,
                                 subgraphMetadata=[subgraph], author=d.author or None, license=d.license or None,
                                 minParserVersion=MIN_PARSER_VERSION)


def serialize(metadata: schema.ModelMetadataT) -> bytes:
    """The metadata flatbuffer, ready to store in a TFLite model's TFLITE_METADATA buffer."""
    builder = flatbuffers.Builder(1024)
    builder.Finish(metadata.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def parse(buffer: bytes) -> schema.ModelMetadataT:
    """A metadata flatbuffer read back with the schema's generated reader."""
    if not schema.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0):
        raise ValueError(f"not TFLite metadata: file identifier {bytes(buffer[4:8])!r}, not {FILE_IDENTIFIER!r}")
    return schema.ModelMetadataT.InitFromPackedBuf(buffer, 0)


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
    metadata = serialize(detector_metadata(description))
    with_metadata = tflite_model.set_metadata_buffer(model_bytes, METADATA_FIELD_NAME, metadata)
    return append_zip(with_metadata, {ANDROID_LABELS_FILE: android_labels_text(description.labels).encode("utf-8")})


def associated_files(model_bytes: bytes) -> dict[str, bytes]:
    """The files zipped onto a model (empty when there are none)."""
    try:
        with zipfile.ZipFile(io.BytesIO(model_bytes)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except zipfile.BadZipFile:
        return {}
