"""The SavedModels of an export, both written by the Object Detection API's own exporters.

- `saved_model/` (with `checkpoint/` and `pipeline.config` beside it, the model-zoo layout):
  `exporter_lib_v2.export_inference_graph`, what `exporter_main_v2.py --input_type=image_tensor`
  writes. uint8 images in, the model's NMS; for TF serving, evaluation and the parity reference.
- `tflite_saved_model/`: the module of `export_tflite_graph_lib_tf2` (what
  `export_tflite_graph_tf2.py` writes), which the TFLite converter turns into a model ending in
  TFLITE_Detection_PostProcess (SSD) or CenterNet's own decoding. In TF it returns zeros for SSD.

Around the TFLite module this adds one thing: every TFLite model takes the input convention of
the TFLite Android apps, `(pixel - 127.5) / 127.5` (raw pixels once quantized to uint8). The OD
API's module takes what the feature extractor's preprocessing makes (MobileNet: that very
convention; ResNet: pixels minus channel means; EfficientNet: ImageNet mean/std; CenterNet: raw
pixels). The difference is one per-channel affine map, measured from the model's own
`preprocess` and applied as a 1x1 convolution (one fused CONV_2D in TFLite), or nothing where
the conventions agree. Outputs are named detection_boxes, detection_classes, detection_scores,
num_detections for every meta-architecture.

Both are saved without TF-Keras's per-layer traces: the signatures, the module's own functions and
the variables are what `tf.saved_model.load` users call; the traces (every layer's call function,
for reloading the model as Keras, which the OD API's detectors cannot be) took a quarter of an
export's time.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile

import numpy as np
import tensorflow as tf
from object_detection import export_tflite_graph_lib_tf2, exporter_lib_v2
from tf_keras.src.saving.legacy.saved_model import utils as keras_saving  # its save_traces switch has no public name

from od_tools.common.errors import UserError
from od_tools.config import PipelineProto, fixed_input_size, meta_architecture
from od_tools.modeling import build_model, check_restored, does_not_fit

# What a TFLite model's float input holds: (pixel - INPUT_MEAN) / INPUT_STD.
INPUT_MEAN = 127.5
INPUT_STD = 127.5

INFERENCE_DIR = "saved_model"
TFLITE_DIR = "tflite_saved_model"
_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY


@dataclasses.dataclass(frozen=True)
class Affine:
    """Per-channel `value = scale * pixel + offset`."""

    scale: tuple[float, float, float]
    offset: tuple[float, float, float]

    def from_app_input(self) -> "Affine":
        """The same map applied to app-convention input x, where pixel = INPUT_STD * x + INPUT_MEAN."""
        scale = tuple(s * INPUT_STD for s in self.scale)
        offset = tuple(s * INPUT_MEAN + o for s, o in zip(self.scale, self.offset))
        return Affine(scale, offset)  # type: ignore[arg-type]

    @property
    def is_identity(self) -> bool:
        return np.allclose(self.scale, 1.0, atol=1e-6) and np.allclose(self.offset, 0.0, atol=1e-4)


RAW_PIXELS = Affine((1.0, 1.0, 1.0), (0.0, 0.0, 0.0))


def measure_preprocessing(model, height: int, width: int) -> Affine:
    """The per-channel affine map the model's `preprocess` applies to pixels at its input size.

    Measured at two grey levels and checked at a third, so a preprocessing that is not such a
    map (and could not be expressed as one) is refused instead of exported wrong.
    """
    def run(value: float) -> np.ndarray:
        images = tf.fill([1, height, width, 3], value)
        preprocessed, _ = model.preprocess(images)
        return preprocessed.numpy().astype(np.float64).reshape(-1, 3).mean(axis=0)  # float32 sums drift

    low, high = run(0.0), run(255.0)
    scale = (high - low) / 255.0
    check = run(100.0)
    if not np.allclose(check, scale * 100.0 + low, atol=1e-3):
        raise UserError("the feature extractor's preprocessing is not a per-channel affine map of the pixels; "
                        "its TFLite input convention cannot be expressed, so it cannot be exported")
    return Affine(tuple(float(v) for v in scale), tuple(float(v) for v in low))  # type: ignore[arg-type]


class AppInputModule(tf.Module):
    """The OD API's TFLite module, on app-convention float input, with named outputs."""

    def __init__(self, module: tf.Module, height: int, width: int, model_input: Affine):
        super().__init__()
        self.detection = module
        adapter = model_input.from_app_input()
        self._identity = adapter.is_identity
        self._kernel = tf.constant(np.diag(adapter.scale).reshape(1, 1, 3, 3), tf.float32)
        self._bias = tf.constant(adapter.offset, tf.float32)
        self.serve = tf.function(self._serve, input_signature=[tf.TensorSpec([1, height, width, 3], tf.float32,
                                                                             name="input")])

    def _serve(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        if not self._identity:
            image = tf.nn.bias_add(tf.nn.conv2d(image, self._kernel, strides=1, padding="VALID"), self._bias)
        outputs = self.detection.inference_fn(image)
        num_detections, scores, classes, boxes = outputs[:4]  # the OD API's order, reversed
        return {"detection_boxes": boxes, "detection_classes": classes, "detection_scores": scores,
                "num_detections": num_detections}


def _without_keras_traces():
    """What `model.save(save_traces=False)` sets, for a `tf.saved_model.save` of a module."""
    return keras_saving.keras_option_scope(save_traces=False)


def _restore(model, prefix: str):
    return tf.train.Checkpoint(model=model).read(prefix).expect_partial()


def export_tflite_graph(config: PipelineProto, prefix: str, export_dir: str, max_detections: int,
                        use_regular_nms: bool = False) -> Affine:
    """Writes the SavedModel the TFLite converter reads; returns the model's own input map."""
    size = fixed_input_size(config)
    kind = meta_architecture(config)
    if size is None:
        raise UserError(f"model.{kind}.image_resizer: TFLite needs a fixed_shape_resizer")
    height, width = size
    if kind == "ssd":
        model = build_model(config, is_training=False)
        status = _restore(model, prefix)
        module = export_tflite_graph_lib_tf2.SSDModule(config, model, max_detections, use_regular_nms)
        model_input = measure_preprocessing(model, height, width)
    elif kind == "center_net":
        module = export_tflite_graph_lib_tf2.CenterNetModule(config, max_detections, include_keypoints=False)
        status = _restore(module.get_model(), prefix)
        model_input = RAW_PIXELS  # CenterNet's module preprocesses raw pixels itself
    else:
        raise UserError(f"model.{kind}: the Object Detection API exports only SSD and CenterNet models to TFLite")
    serving = AppInputModule(module, height, width, model_input)
    try:
        concrete = serving.serve.get_concrete_function()  # builds the variables, which the restore fills
    except ValueError as e:  # a checkpoint variable of another shape
        raise does_not_fit(prefix, e) from e
    check_restored(status, prefix)
    with _without_keras_traces():
        tf.saved_model.save(serving, export_dir, signatures={_SIGNATURE: concrete})
    return model_input


def export_inference_graph(config: PipelineProto, prefix: str, output_dir: str,
                           input_type: str = "image_tensor") -> str:
    """exporter_main_v2's export into output_dir (saved_model/, checkpoint/, pipeline.config)."""
    with tempfile.TemporaryDirectory(prefix="od_ckpt_") as state_dir:
        # The exporter restores the newest checkpoint of a folder: a state file naming this one.
        with open(os.path.join(state_dir, "checkpoint"), "w", encoding="utf-8") as f:
            f.write(f'model_checkpoint_path: "{os.path.abspath(prefix)}"\n')
        try:
            with _without_keras_traces():
                exporter_lib_v2.export_inference_graph(input_type, config, state_dir, output_dir)
        except (AssertionError, ValueError) as e:  # unfilled or mis-shaped model variables
            raise does_not_fit(prefix, e) from e
    return os.path.join(output_dir, INFERENCE_DIR)
