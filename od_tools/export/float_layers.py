"""Selective quantization: an int8 model with chosen layers kept in float, and the search that keeps
the worst layers (by the quantization debugger's error) in float, a few at a time, until int8's
AP50 is close enough to float's or a layer budget is spent.

The calibration runs once; each choice of float layers is then a quantization pass of the
calibrated model (the converter's MLIR quantizer with those nodes denylisted, as the quantization
debugger's selective mode does, with the export's uint8 input and float outputs), under a second.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Sequence

import numpy as np

from od_tools.common.errors import UserError

LAYERS_PER_STEP = 2


@dataclasses.dataclass(frozen=True)
class Step:
    """One choice of float layers and what it gives: AP50 on the held-out images, size, latency."""

    float_layers: tuple[str, ...]
    ap50: float
    size_bytes: int
    latency_ms: float  # median, one thread, ai_edge_litert with XNNPACK, on one held-out image

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "float_layers": list(self.float_layers)}


@dataclasses.dataclass(frozen=True)
class FloatLayerSearch:
    """--int8_float_layers: the steps tried, in order, and the one exported."""

    mode: str                  # "auto" or "names"
    float_ap50: float          # the float32 TFLite model's AP50, the bar's reference
    max_ap50_drop: float
    max_layers: int
    steps: tuple[Step, ...]
    chosen: int                # index into steps

    @property
    def chosen_step(self) -> Step:
        return self.steps[self.chosen]

    @property
    def reached(self) -> bool:
        return self.chosen_step.ap50 >= self.float_ap50 - self.max_ap50_drop

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "steps": [s.to_json() for s in self.steps], "reached": self.reached}

    @classmethod
    def from_json(cls, data: dict) -> "FloatLayerSearch":
        steps = tuple(Step(**{**s, "float_layers": tuple(s["float_layers"])}) for s in data["steps"])
        return cls(mode=data["mode"], float_ap50=data["float_ap50"], max_ap50_drop=data["max_ap50_drop"],
                   max_layers=data["max_layers"], steps=steps, chosen=data["chosen"])

    def lines(self) -> list[str]:
        base = self.steps[0]
        lines = ["", f"int8 with layers kept in float (--int8_float_layers={self.mode}; bar: AP50 within "
                 f"{self.max_ap50_drop} of float32's {self.float_ap50:.3f}, at most {self.max_layers} layers):",
                 f"  {'float layers':>12} {'AP50':>6} {'size MB':>8} {'x size':>7} {'1-thr ms':>9}  added"]
        for k, step in enumerate(self.steps):
            added = [n for n in step.float_layers if n not in (self.steps[k - 1].float_layers if k else ())]
            mark = "  <- exported" if k == self.chosen else ""
            lines.append(f"  {len(step.float_layers):>12} {step.ap50:>6.3f} {step.size_bytes / 1e6:>8.2f} "
                         f"{step.size_bytes / base.size_bytes:>6.2f}x {step.latency_ms:>9.2f}  "
                         f"{'; '.join(n[-60:] for n in added) or '-'}{mark}")
        if not self.reached:
            lines.append(f"  the bar was not reached within {self.max_layers} float layers: the best step is exported; "
                         "keeping the layers with the largest error in float did not close the gap (int8_debug.csv "
                         "has every layer's error; --int8_float_layers=NAMES tries others)")
        return lines


class Calibrated:
    """The int8 calibration of a TFLite-flavoured SavedModel, done once, quantized as often as asked."""

    def __init__(self, tflite_saved_model: str, representative: Callable[[], Iterable[np.ndarray]]):
        from od_tools.export.convert import int8_converter

        converter = int8_converter(tflite_saved_model, representative, float_io=True)
        converter._experimental_calibrate_only = True  # noqa: SLF001 (the debugger's own route to selective int8)
        self._calibrated = converter.convert()

    def input_layers(self) -> set[str]:
        """The output tensors of the ops that read the model's input: kept in float, they would make
        the model take float input, and the int8 model takes uint8 pixels."""
        from od_tools.export import tflite_model

        graph = tflite_model.read(self._calibrated).subgraphs[0]
        inputs = {int(i) for i in graph.inputs}
        name = lambda t: t.name.decode() if isinstance(t.name, bytes) else t.name  # noqa: E731
        return {name(graph.tensors[int(o)]) for op in graph.operators if inputs & {int(i) for i in op.inputs}
                for o in op.outputs}

    def quantize(self, float_layers: Sequence[str]) -> bytes:
        """Full int8 but for `float_layers` (tensor names, as in int8_debug.csv); uint8 input, float outputs."""
        import tensorflow as tf
        from tensorflow.lite.python import convert as tflite_convert
        from tensorflow.lite.python import util as tflite_util

        model = tflite_convert.mlir_quantize(self._calibrated, False, input_data_type=tf.float32,
                                             output_data_type=tf.float32, denylisted_nodes=list(float_layers))
        return bytes(tflite_util.modify_model_io_type(model, tf.uint8, tf.float32))


def parse_float_layers(value: str, known: Sequence[str], input_layers: set[str] = frozenset()) -> list[str] | None:
    """--int8_float_layers: "" -> None (plain int8), "auto" -> [] (search), else the named layers,
    each of which must be a quantized tensor of the model that does not read the model's input."""
    value = value.strip()
    if not value:
        return None
    if value == "auto":
        return []
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UserError(f"--int8_float_layers: {unknown[0]!r} is not a quantized layer of this model; give "
                        "tensor names from int8_debug.csv (--int8_debug writes it), or auto")
    first = [n for n in names if n in input_layers]
    if first:
        raise UserError(f"--int8_float_layers: {first[0]!r} reads the model's input: in float it would make the "
                        "model take float input, where the int8 model takes uint8 pixels; choose another layer "
                        "(or export float16 for a float model)")
    return names


def search(ranked: Sequence[str], evaluate: Callable[[Sequence[str]], Step], float_ap50: float,
           max_ap50_drop: float, max_layers: int, per_step: int = LAYERS_PER_STEP) -> tuple[list[Step], int]:
    """Keeps the first `per_step`, then the next, ... of `ranked` (worst first) in float until a step's
    AP50 is within `max_ap50_drop` of `float_ap50` or `max_layers` are float. Returns the steps (the
    first with no float layer) and the index of the one to export: the first that reaches the bar,
    else the best AP50 (the fewest layers among equals)."""
    steps = [evaluate(())]
    target = float_ap50 - max_ap50_drop
    count = 0
    while steps[-1].ap50 < target and count < min(max_layers, len(ranked)):
        count = min(count + per_step, max_layers, len(ranked))
        steps.append(evaluate(tuple(ranked[:count])))
    reached = [k for k, s in enumerate(steps) if s.ap50 >= target]
    if reached:
        return steps, reached[0]
    return steps, max(range(len(steps)), key=lambda k: (steps[k].ap50, -k))
