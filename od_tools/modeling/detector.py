"""Detections from the Object Detection API's own inference module, in memory or exported.

`exporter_lib_v2.DetectionFromImageModule` is what `exporter_main_v2.py` saves: uint8 image in,
the model's preprocess, predict and postprocess (its NMS) out. Running a checkpoint through the
same module in memory means evaluation, the exported SavedModel and the parity reference of the
TFLite export all see one set of detections.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
import tensorflow as tf
from object_detection import exporter_lib_v2

from od_tools.common.errors import UserError
from od_tools.config import PipelineProto
from od_tools.modeling.model import load_model


# What every detector's serving signature returns (exporter_lib_v2's postprocessed outputs).
OUTPUT_KEYS = ("detection_boxes", "detection_classes", "detection_scores", "num_detections")
# exporter_main_v2's --input_type values, in its order: what a SavedModel's serving_default takes.
INPUT_TYPES = ("image_tensor", "encoded_image_string_tensor", "tf_example", "float_image_tensor")


@dataclasses.dataclass(frozen=True)
class Detections:
    """One image's detections; boxes are [ymin, xmin, ymax, xmax] normalised to the image.

    `masks` (Mask R-CNN's `detection_masks`) are per box, [N, h, w] probabilities on the box, as
    the OD API's SavedModel outputs them; `image_masks` places them on the image.
    """

    boxes: np.ndarray
    classes: np.ndarray  # label map ids (1..num_classes)
    scores: np.ndarray
    masks: np.ndarray | None = None

    def __len__(self) -> int:
        return int(np.asarray(self.scores).reshape(-1).shape[0])

    def select(self, index: np.ndarray) -> "Detections":
        """The detections at `index` (integer positions or a boolean mask), masks included."""
        index = np.asarray(index)
        return Detections(np.asarray(self.boxes).reshape(-1, 4)[index], np.asarray(self.classes)[index],
                          np.asarray(self.scores)[index], None if self.masks is None else self.masks[index])

    def image_masks(self, height: int, width: int, threshold: float = 0.5) -> np.ndarray:
        """[N, height, width] bool: each box mask resized into its box (what the OD API's
        `reframe_box_masks_to_image_masks` does, thresholded as its visualisation does)."""
        from PIL import Image

        out = np.zeros((len(self), height, width), bool)
        if self.masks is None:
            return out
        for k, (mask, box) in enumerate(zip(self.masks, np.asarray(self.boxes).reshape(-1, 4))):
            top, left = int(np.floor(max(0.0, box[0]) * height)), int(np.floor(max(0.0, box[1]) * width))
            bottom, right = int(np.ceil(min(1.0, box[2]) * height)), int(np.ceil(min(1.0, box[3]) * width))
            if bottom <= top or right <= left:
                continue
            resized = Image.fromarray(np.asarray(mask, np.float32), mode="F").resize(
                (right - left, bottom - top), Image.BILINEAR)
            out[k, top:bottom, left:right] = np.asarray(resized) >= threshold
        return out


def detections_of(outputs: dict) -> Detections:
    """The first image's detections in a serving signature's outputs (numpy, batch first)."""
    n = int(outputs["num_detections"][0])
    masks = outputs.get("detection_masks")
    return Detections(np.asarray(outputs["detection_boxes"][0, :n], np.float32),
                      np.asarray(outputs["detection_classes"][0, :n]).astype(np.int64),
                      np.asarray(outputs["detection_scores"][0, :n], np.float32),
                      None if masks is None else np.asarray(masks[0, :n], np.float32))


def _png(picture: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, "PNG")
    return buffer.getvalue()


def serving_input(picture: np.ndarray, input_type: str) -> tf.Tensor:
    """One uint8 RGB picture as a SavedModel of `input_type` takes it (exporter_lib_v2's four input
    modules): pixels, PNG bytes (lossless, so the model sees the same pixels) or a tf.Example."""
    if input_type == "image_tensor":
        return tf.constant(picture[np.newaxis], tf.uint8)
    if input_type == "float_image_tensor":
        return tf.constant(picture[np.newaxis], tf.float32)
    encoded = _png(picture)
    if input_type == "encoded_image_string_tensor":
        return tf.constant([encoded])
    feature = {"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
               "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"png"]))}
    return tf.constant([tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()])


def _input_type(signature) -> str:
    """Which of exporter_lib_v2's input modules a serving signature is: its input's dtype tells
    pixels from strings, a ParseExample op in its graph tf.Examples from encoded images."""
    (spec,) = signature.structured_input_signature[1].values()
    if spec.dtype != tf.string:
        return "image_tensor" if spec.dtype == tf.uint8 else "float_image_tensor"
    graph = signature.graph.as_graph_def()
    ops = {node.op for node in graph.node} | {node.op for f in graph.library.function for node in f.node_def}
    return "tf_example" if any(op.startswith(("ParseExample", "ParseSingleExample")) for op in ops) else \
        "encoded_image_string_tensor"


class Detector:
    """Runs uint8 RGB images ([H, W, 3], any size) and returns `Detections` for each."""

    def __init__(self, serve: Callable[[tf.Tensor], dict], keepalive: object = None):
        self._serve = serve
        self._keepalive = keepalive  # what `serve` needs alive (a loaded SavedModel, a module)

    @classmethod
    def from_model(cls, model) -> "Detector":
        """The exporter's inference module around a built OD API DetectionModel."""
        module = exporter_lib_v2.DetectionFromImageModule(model)
        return cls(module.__call__, module)

    @classmethod
    def from_checkpoint(cls, config: PipelineProto, prefix: str) -> "Detector":
        """The exporter's inference module around a model restored from `prefix`."""
        return cls.from_model(load_model(config, prefix))

    @classmethod
    def from_saved_model(cls, path: str) -> "Detector":
        """A SavedModel written by exporter_lib_v2 (`exporter_main_v2.py`, any `--input_type`: each
        picture is given as the pixels, PNG bytes or a tf.Example it takes)."""
        loaded = tf.saved_model.load(path)
        signature = loaded.signatures.get("serving_default")
        if signature is None:
            raise UserError(f"{path}: no serving_default signature (it has {sorted(loaded.signatures) or 'none'}); "
                            "give a detector exported by exporter_main_v2 or export_tflite")
        inputs = signature.structured_input_signature[1]
        (input_name, spec), = list(inputs.items())[:1] or [(None, None)]
        missing = [name for name in OUTPUT_KEYS if name not in signature.structured_outputs]
        if spec is None or len(inputs) != 1 or missing:
            raise UserError(f"{path}: its serving_default signature is not a detector's (inputs {sorted(inputs)}, "
                            f"missing outputs {missing}); give a detector exported by exporter_main_v2 or export_tflite")
        pixels = spec.dtype in (tf.uint8, tf.float32) and spec.shape.rank == 4
        if not pixels and not (spec.dtype == tf.string and spec.shape.rank == 1):
            raise UserError(f"{path}: its serving_default takes {spec.dtype.name} {input_name} of shape {spec.shape}, "
                            "no input exporter_main_v2 writes; export it with od_tools:export_saved_model")
        input_type = _input_type(signature)
        return cls(lambda images: signature(**{input_name: serving_input(np.asarray(images)[0], input_type)}),
                   loaded)

    def outputs(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """Every output of the module for one image (batch of one), raw pre-NMS ones included."""
        return {k: v.numpy() for k, v in self._serve(tf.convert_to_tensor(image[np.newaxis], tf.uint8)).items()}

    def detect(self, image: np.ndarray) -> Detections:
        return detections_of(self.outputs(image))

    def __call__(self, images: np.ndarray) -> list[Detections]:
        """Detections for each image of a batch (the exported module takes one at a time)."""
        return [self.detect(image) for image in images]
