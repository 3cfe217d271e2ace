"""The detector for inference: Model Garden's own model and serving pre/post-processing.

Evaluation runs images through exactly what export packages (Model Garden's
`DetectionModule`: normalisation, resize and padding as in training, NMS), then maps boxes back
to each original image.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
from official.vision.serving import detection as detection_serving
from official.vision.tasks import retinanet as retinanet_task


def build_model(experiment):
    """The RetinaNet the experiment describes, built by Model Garden's factory."""
    return retinanet_task.RetinaNetTask(experiment.task).build_model()


@dataclasses.dataclass(frozen=True)
class Detections:
    """One image's detections; boxes are [ymin, xmin, ymax, xmax] normalised to the image."""

    boxes: np.ndarray
    classes: np.ndarray  # label map ids (1..num_classes)
    scores: np.ndarray


def to_original_image(boxes: np.ndarray, image_info: np.ndarray) -> np.ndarray:
    """Model-input pixel boxes -> boxes normalised to the original image, clipped to [0, 1].

    `image_info` is Model Garden's [[original h, w], [scaled h, w], [y, x scale], [y, x offset]].
    """
    scale = np.tile(image_info[2], 2)
    offset = np.tile(image_info[3], 2)
    original = np.tile(image_info[0], 2)
    return np.clip((boxes + offset) / scale / original, 0.0, 1.0)


def _unbatch(outputs: dict, normalized: bool) -> list[Detections]:
    result = []
    for i in range(outputs["num_detections"].shape[0]):
        n = int(outputs["num_detections"][i])
        boxes = outputs["detection_boxes"][i, :n]
        if not normalized:
            boxes = to_original_image(boxes, outputs["image_info"][i])
        result.append(Detections(boxes.astype(np.float32),
                                 outputs["detection_classes"][i, :n].astype(np.int64),
                                 outputs["detection_scores"][i, :n].astype(np.float32)))
    return result


class Detector:
    """Runs batches of uint8 RGB images of one size and returns `Detections` per image."""

    def __init__(self, serve, normalized_output: bool):
        self._serve = serve
        self._normalized = normalized_output

    @classmethod
    def from_model(cls, experiment, model) -> "Detector":
        """Wraps a (trained or training) Keras model with Model Garden's serving module."""
        module = detection_serving.DetectionModule(
            params=experiment, batch_size=None, input_image_size=list(experiment.task.model.input_size[:2]),
            input_type="image_tensor", num_channels=3, model=model)
        serve = tf.function(module.serve, input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)],
                            reduce_retracing=True)
        return cls(serve, experiment.task.export_config.output_normalized_coordinates)

    @classmethod
    def from_saved_model(cls, path: str, normalized_output: bool) -> "Detector":
        """A SavedModel exported with Model Garden's detection module (input 'inputs', uint8)."""
        loaded = tf.saved_model.load(path)
        signature = loaded.signatures["serving_default"]
        input_name = list(signature.structured_input_signature[1])[0]

        def serve(images):
            return signature(**{input_name: images})

        detector = cls(serve, normalized_output)
        detector._keepalive = loaded  # the signature needs the loaded object alive
        return detector

    def __call__(self, images: np.ndarray) -> list[Detections]:
        outputs = {k: v.numpy() for k, v in self._serve(tf.convert_to_tensor(images, tf.uint8)).items()}
        return _unbatch(outputs, self._normalized or "image_info" not in outputs)
