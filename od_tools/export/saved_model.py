"""SavedModels from a Model Garden ExperimentConfig and a checkpoint.

Two are written, because the TFLite flavour cannot serve TensorFlow: with
`nms_version='tflite'` the detection generator ends in an empty function that only the
converter turns into the TFLite_Detection_PostProcess op, so in TF it returns zeros.

- `saved_model/`: batches of uint8 images of any size in, Model Garden's own preprocessing and NMS: for
  TensorFlow serving and evaluation, and the reference of the parity check.
- `tflite_saved_model/`: a fixed [1, H, W, 3] float input in the TFLite app convention
  `(pixel - 127.5) / 127.5` (what the Android demos and the metadata's normalization feed),
  mapped inside the graph onto Model Garden's per-channel normalization.
"""

from __future__ import annotations

import copy
import dataclasses
import os

import tensorflow as tf

from official.core import config_definitions as cfg
from official.vision.configs import retinanet as retinanet_config
from official.vision.ops import preprocess_ops
from official.vision.serving import detection

from od_tools.common.errors import UserError
from od_tools.modeling import restore_model

# What the TFLite model's float input holds: (pixel - MEAN) / STD, the convention of the
# TFLite object-detection Android examples. A uint8 (int8-quantized) input holds raw pixels.
INPUT_MEAN = 127.5
INPUT_STD = 127.5

INFERENCE_DIR = "saved_model"
TFLITE_DIR = "tflite_saved_model"
_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What downstream steps need to know about the exported detector."""

    input_height: int
    input_width: int
    num_classes: int        # foreground classes (Model Garden's num_classes minus background)
    max_detections: int


def check_supported(config: cfg.ExperimentConfig, source: str) -> None:
    if not isinstance(config.task, retinanet_config.RetinaNetTask):
        raise UserError(f"{source}: meta-architecture {type(config.task).__name__} is not supported by the "
                        "TFLite export; use an SSD/RetinaNet config (model {{ ssd {{ ... }} }})")
    size = list(config.task.model.input_size)
    if len(size) < 2 or size[0] <= 0 or size[1] <= 0:
        raise UserError(f"{source}: the model has no fixed input size ({size}); TFLite needs a fixed "
                        "image_resizer { fixed_shape_resizer { height width } }")


def model_info(config: cfg.ExperimentConfig, max_detections: int) -> ModelInfo:
    height, width = (int(v) for v in config.task.model.input_size[:2])
    return ModelInfo(height, width, int(config.task.model.num_classes) - 1, max_detections)


def inference_config(config: cfg.ExperimentConfig) -> cfg.ExperimentConfig:
    """The config with an NMS that runs in TensorFlow."""
    params = copy.deepcopy(config)
    if params.task.model.detection_generator.nms_version == "tflite":
        params.task.model.detection_generator.nms_version = "v2"
    return params


def tflite_config(config: cfg.ExperimentConfig, max_detections: int) -> cfg.ExperimentConfig:
    """The config whose detection generator converts to TFLite_Detection_PostProcess."""
    params = copy.deepcopy(config)
    generator = params.task.model.detection_generator
    generator.nms_version = "tflite"
    post = generator.tflite_post_processing
    post.max_detections = max_detections
    # One class per box: outputs are [1, max_detections, ...], the shape the Android apps allocate.
    post.max_classes_per_detection = 1
    # The same NMS as the TF model (per class unless the config says class-agnostic), with the
    # same thresholds, so TFLite and SavedModel differ only by conversion.
    post.use_regular_nms = not generator.use_class_agnostic_nms
    # Model Garden refuses its own class-agnostic flag with the TFLite NMS: the op's
    # use_regular_nms above carries that choice instead.
    generator.use_class_agnostic_nms = False
    post.detections_per_class = max_detections
    post.nms_iou_threshold = generator.nms_iou_threshold
    post.nms_score_threshold = generator.pre_nms_score_threshold
    # Boxes in [0, 1] (RATIO coordinates), which the Android apps and MediaPipe expect.
    post.normalize_anchor_coordinates = True
    return params


class _ForegroundScores:
    """Wraps the detection generator so the TFLite NMS op sees foreground classes only.

    Model Garden scores include the background class 0 (trained towards 1 on background
    anchors), and its TFLite path hands every column to TFLite_Detection_PostProcess, which then
    reports background as a class. Dropping column 0 makes the op number foreground classes
    from 0, so output class i is label id i + 1: line i of labelmap.txt, as the apps read it.
    """

    def __init__(self, generator: tf.keras.layers.Layer, num_classes: int):
        self._generator = generator
        self._num_classes = num_classes

    def get_config(self) -> dict:
        return self._generator.get_config()

    def _foreground(self, scores: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(scores)
        per_anchor = tf.reshape(scores, tf.concat([shape[:-1], [-1, self._num_classes]], 0))[..., 1:]
        anchors = scores.shape[-1] // self._num_classes
        return tf.reshape(per_anchor, tf.concat([shape[:-1], [anchors * (self._num_classes - 1)]], 0))

    def __call__(self, raw_boxes, raw_scores, anchor_boxes, image_shape, *args, **kwargs):
        scores = {level: self._foreground(s) for level, s in raw_scores.items()}
        return self._generator(raw_boxes, scores, anchor_boxes, image_shape, *args, **kwargs)


class _TFLiteServing(tf.Module):
    """Serves the detection module on app-convention float images ((pixel - 127.5) / 127.5)."""

    def __init__(self, module: detection.DetectionModule, height: int, width: int):
        super().__init__()
        self.detection = module
        mean = tf.constant(preprocess_ops.MEAN_RGB, tf.float32)
        std = tf.constant(preprocess_ops.STDDEV_RGB, tf.float32)
        # pixel = x * INPUT_STD + INPUT_MEAN; Model Garden wants (pixel - mean) / std: one
        # per-channel affine map, written as a 1x1 convolution with a diagonal kernel and a bias.
        # TFLite runs that as one fused CONV_2D, several times faster (XNNPACK, float and int8)
        # than the broadcast MUL and ADD it would otherwise become.
        self._kernel = tf.reshape(tf.linalg.diag(INPUT_STD / std), [1, 1, 3, 3])
        self._offset = (INPUT_MEAN - mean) / std
        self.serve = tf.function(
            self._serve, input_signature=[tf.TensorSpec([1, height, width, 3], tf.float32, name="image")])

    def _serve(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        normalized = tf.nn.bias_add(tf.nn.conv2d(image, self._kernel, strides=1, padding="VALID"), self._offset)
        return self.detection.serve(normalized)


def _module(params: cfg.ExperimentConfig, input_type: str, batch_size: int | None) -> detection.DetectionModule:
    height, width = (int(v) for v in params.task.model.input_size[:2])
    return detection.DetectionModule(params=params, batch_size=batch_size, input_image_size=[height, width],
                                     input_type=input_type, num_channels=3)


def export_inference(config: cfg.ExperimentConfig, checkpoint: str, export_dir: str) -> None:
    """Writes the TF SavedModel (uint8 [N, H, W, 3] in, any N and size; Model Garden NMS)."""
    module = _module(inference_config(config), "image_tensor", batch_size=None)
    restore_model(module.model, checkpoint)
    signatures = module.get_inference_signatures({"image_tensor": _SIGNATURE})
    tf.saved_model.save(module, export_dir, signatures=signatures)


def export_tflite_flavour(config: cfg.ExperimentConfig, checkpoint: str, export_dir: str, max_detections: int
                          ) -> None:
    """Writes the SavedModel that the TFLite converter turns into a detector with the NMS op."""
    params = tflite_config(config, max_detections)
    module = _module(params, "tflite", batch_size=1)
    restore_model(module.model, checkpoint)
    model = module.model
    model._detection_generator = _ForegroundScores(  # pylint: disable=protected-access
        model.detection_generator, int(params.task.model.num_classes))
    height, width = (int(v) for v in params.task.model.input_size[:2])
    serving = _TFLiteServing(module, height, width)
    signatures = {_SIGNATURE: serving.serve.get_concrete_function()}
    tf.saved_model.save(serving, export_dir, signatures=signatures)


def export_saved_models(config: cfg.ExperimentConfig, checkpoint: str, output_dir: str, max_detections: int,
                        config_source: str) -> tuple[str, str]:
    """Writes both SavedModels under output_dir; returns (inference_dir, tflite_dir)."""
    check_supported(config, config_source)
    inference_dir = os.path.join(output_dir, INFERENCE_DIR)
    tflite_dir = os.path.join(output_dir, TFLITE_DIR)
    export_inference(config, checkpoint, inference_dir)
    export_tflite_flavour(config, checkpoint, tflite_dir, max_detections)
    return inference_dir, tflite_dir
