"""TFLite conversion of the TFLite-flavoured SavedModel, one call per quantization."""

from __future__ import annotations

import enum
from typing import Callable, Iterable

import numpy as np
import tensorflow as tf

from od_tools.common.errors import UserError


class Quantization(str, enum.Enum):
    """Post-training quantizations, named as in the flags."""

    FLOAT32 = "float32"            # no quantization
    FLOAT16 = "float16"            # float16 weights, float compute
    DYNAMIC_RANGE = "dynamic_range"  # int8 weights, float activations
    INT8 = "int8"                  # full integer: uint8 input, int8 compute, float outputs

    @property
    def uint8_input(self) -> bool:
        return self is Quantization.INT8

    @property
    def is_float(self) -> bool:
        """Float32/float16 keep float math: their parity bar is the float one."""
        return self in (Quantization.FLOAT32, Quantization.FLOAT16)


def parse_quantizations(values: Iterable[str]) -> list[Quantization]:
    """`--quantization` values, repeated or comma-separated, 'all' for every one; input order kept."""
    names = [v.strip() for value in values for v in value.split(",") if v.strip()]
    if not names:
        return [Quantization.FLOAT32]
    chosen: list[Quantization] = []
    for name in names:
        if name == "all":
            options = list(Quantization)
        else:
            try:
                options = [Quantization(name)]
            except ValueError:
                allowed = ", ".join([q.value for q in Quantization] + ["all"])
                raise UserError(f"--quantization={name} is not one of: {allowed}") from None
        chosen += [q for q in options if q not in chosen]
    return chosen


# Calibration images: each a float32 [1, H, W, 3] array in the model's input convention.
RepresentativeSet = Callable[[], Iterable[np.ndarray]]


def int8_converter(saved_model_dir: str, representative: RepresentativeSet, float_io: bool = False):
    """The converter of full-integer models, calibrating on `representative`: uint8 input and float
    outputs, or float both ways (`float_io`, as the quantization debugger and selective int8 take it)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([image] for image in representative())
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        converter.inference_input_type = tf.uint8
        # Outputs stay float: the detection op's boxes and scores are float by design.
        converter.inference_output_type = tf.float32
    return converter


def convert(saved_model_dir: str, quantization: Quantization,
            representative: RepresentativeSet | None = None) -> bytes:
    """Converts to a .tflite flatbuffer; int8 calibrates on `representative`."""
    if quantization is Quantization.INT8:
        if representative is None:
            raise UserError("int8 needs a representative set of images; none was given")
        return bytes(int8_converter(saved_model_dir, representative).convert())
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    if quantization is Quantization.FLOAT16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization is Quantization.DYNAMIC_RANGE:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return bytes(converter.convert())
