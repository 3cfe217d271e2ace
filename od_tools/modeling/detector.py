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

from od_tools.config import PipelineProto
from od_tools.modeling.model import load_model


@dataclasses.dataclass(frozen=True)
class Detections:
    """One image's detections; boxes are [ymin, xmin, ymax, xmax] normalised to the image."""

    boxes: np.ndarray
    classes: np.ndarray  # label map ids (1..num_classes)
    scores: np.ndarray


def _detections(outputs: dict) -> Detections:
    n = int(outputs["num_detections"][0])
    return Detections(np.asarray(outputs["detection_boxes"][0, :n], np.float32),
                      np.asarray(outputs["detection_classes"][0, :n]).astype(np.int64),
                      np.asarray(outputs["detection_scores"][0, :n], np.float32))


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
        """A SavedModel written by exporter_lib_v2 (`exporter_main_v2.py --input_type=image_tensor`)."""
        loaded = tf.saved_model.load(path)
        signature = loaded.signatures["serving_default"]
        input_name = list(signature.structured_input_signature[1])[0]
        return cls(lambda images: signature(**{input_name: images}), loaded)

    def detect(self, image: np.ndarray) -> Detections:
        outputs = self._serve(tf.convert_to_tensor(image[np.newaxis], tf.uint8))
        return _detections({k: v.numpy() for k, v in outputs.items()})

    def __call__(self, images: np.ndarray) -> list[Detections]:
        """Detections for each image of a batch (the exported module takes one at a time)."""
        return [self.detect(image) for image in images]
