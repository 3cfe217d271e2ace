"""Running exported TFLite detectors on tf.lite or the standalone ai-edge-litert interpreter.

They return od_tools.modeling's `Detections`, like the SavedModel run through
`od_tools.modeling.Detector`, so the two compare directly.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

from od_tools.export import images as images_lib
from od_tools.export import metadata, tflite_model
from od_tools.modeling import Detections


class Interpreter(str, enum.Enum):
    TF_LITE = "tf.lite"
    LITERT = "ai_edge_litert"


class Kernels(str, enum.Enum):
    """Which kernels run the model: the interpreters' op resolvers. Int8 results differ between
    them (and between CPUs: XNNPACK picks its int8 code by instruction set), so accuracy bars are
    set from the spread over all of them (`bazel run //od_tools/export/measure:quantizations -- --kernels`)."""

    XNNPACK = "xnnpack"        # the default: built-in kernels with the XNNPACK delegate
    BUILTIN = "builtin"        # the optimized built-in kernels alone (ruy, gemmlowp)
    REFERENCE = "reference"    # the reference kernels: plain loops, the op's definition

    def resolver(self, module):
        names = {Kernels.XNNPACK: "AUTO", Kernels.BUILTIN: "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
                 Kernels.REFERENCE: "BUILTIN_REF"}
        return getattr(module.OpResolverType, names[self])


def make_interpreter(model_bytes: bytes, interpreter: Interpreter, num_threads: int = 1,
                     kernels: Kernels = Kernels.XNNPACK):
    if interpreter is Interpreter.LITERT:
        from ai_edge_litert import interpreter as litert
        return litert.Interpreter(model_content=model_bytes, num_threads=num_threads,
                                  experimental_op_resolver_type=kernels.resolver(litert))
    import tensorflow as tf
    return tf.lite.Interpreter(model_content=model_bytes, num_threads=num_threads,
                               experimental_op_resolver_type=kernels.resolver(tf.lite.experimental))


class TFLiteDetector:
    """A .tflite detector with outputs boxes, classes, scores, num_detections (by position).

    `class_offset` maps the op's class index to the label id: the op numbers the first
    foreground class 0, label maps number it 1.
    """

    def __init__(self, model_bytes: bytes, interpreter: Interpreter = Interpreter.TF_LITE, num_threads: int = 1,
                 input_mean: float = 127.5, input_std: float = 127.5, class_offset: int = 1,
                 kernels: Kernels = Kernels.XNNPACK):
        self._interpreter = make_interpreter(model_bytes, interpreter, num_threads, kernels)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._outputs = [d["index"] for d in self._interpreter.get_output_details()]
        self.uint8_input = self._input["dtype"] == np.uint8
        self.input_height, self.input_width = (int(v) for v in self._input["shape"][1:3])
        self._mean, self._std, self._class_offset = input_mean, input_std, class_offset

    def model_input(self, pixels: np.ndarray) -> np.ndarray:
        """[1, H, W, 3] as the model takes a uint8 image already at the input size."""
        return images_lib.to_model_input(pixels, self.uint8_input, self._mean, self._std)

    def invoke(self, batch: np.ndarray) -> None:
        self._interpreter.set_tensor(self._input["index"], batch)
        self._interpreter.invoke()

    def detect(self, pixels: np.ndarray) -> Detections:
        """Detections on a uint8 [H, W, 3] image already at the input size."""
        self.invoke(self.model_input(pixels))
        boxes, classes, scores, count = (self._interpreter.get_tensor(i) for i in self._outputs)
        n = int(np.asarray(count).reshape(-1)[0])
        return Detections(np.clip(boxes[0, :n], 0.0, 1.0).astype(np.float32),
                          classes[0, :n].astype(np.int64) + self._class_offset,
                          scores[0, :n].astype(np.float32))


@dataclasses.dataclass(frozen=True)
class DetectorInfo:
    """What a .tflite detector says of itself: its class count and the input normalisation."""

    num_classes: int | None  # the detection op's num_classes (None for a model without the op)
    mean: float = 127.5      # (pixel - mean) / std for a float input (the metadata's, else MobileNet's)
    std: float = 127.5


def detector_info(model_bytes: bytes) -> DetectorInfo:
    """Raises tflite_model.ModelStructureError for a model that is not a detector."""
    model = tflite_model.read(model_bytes)
    tflite_model.postprocess_outputs(model)
    num_classes = tflite_model.postprocess_option(model, "num_classes")
    buffer = tflite_model.metadata_buffer(model_bytes, metadata.METADATA_FIELD_NAME)
    if buffer:
        try:
            units = metadata.parse(buffer).subgraphMetadata[0].inputTensorMetadata[0].processUnits or []
        except (ValueError, IndexError, TypeError):
            units = []
        for unit in units:
            options = unit.options
            if getattr(options, "mean", None) and getattr(options, "std", None):
                return DetectorInfo(num_classes, float(options.mean[0]), float(options.std[0]))
    return DetectorInfo(num_classes)


def check_output_order_at_runtime(model_bytes: bytes, interpreter: Interpreter = Interpreter.TF_LITE) -> None:
    """The interpreter sees outputs boxes, classes, scores, num by position and by signature name."""
    runner = make_interpreter(model_bytes, interpreter)
    runner.allocate_tensors()
    positions = [d["index"] for d in runner.get_output_details()]
    signature = runner.get_signature_list()
    names = list(signature.values())[0]["outputs"] if signature else []
    sig_runner = runner.get_signature_runner()
    by_name = {name: detail["index"] for name, detail in sig_runner.get_output_details().items()}
    wanted = list(tflite_model.OUTPUT_ORDER)
    if sorted(names) != sorted(wanted):
        raise tflite_model.ModelStructureError(f"signature outputs {names} are not {wanted}")
    if [by_name[n] for n in wanted] != positions:
        raise tflite_model.ModelStructureError(
            f"outputs by position {positions} do not match signature names {by_name}")
    shapes = [tuple(d["shape"]) for d in runner.get_output_details()]
    if len(shapes[0]) != 3 or shapes[0][-1] != 4 or len(shapes[3]) != 1:
        raise tflite_model.ModelStructureError(f"output shapes {shapes} are not boxes, classes, scores, num")
