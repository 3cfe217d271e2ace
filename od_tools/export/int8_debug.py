"""Where int8 loses accuracy, layer by layer: the TFLite converter's quantization debugger on
held-out images, its statistics per quantized tensor in int8_debug.csv and a plot by depth.

The debugger runs the int8 model with each quantized op's float counterpart beside it and compares
their outputs. It copes with the detection graph whole: TFLite_Detection_PostProcess is a float
custom op it passes by (measured on the demo's SSD MobileNetV2 FPN: 155 quantized layers, every
conv, depthwise conv, add and concat up to the op). `rmse/scale` is the error in quantization
steps: about 0.29 (1/sqrt(12)) is rounding alone; layers well above it are where int8 hurts.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from od_tools.common.files import atomic_path, write_text_atomic

DEBUG_CSV = "int8_debug.csv"
DEBUG_PLOT = "int8_debug.png"
ROUNDING_ONLY = 1 / math.sqrt(12)  # rmse/scale of uniform rounding error, the floor for any layer
WORST_SHOWN = 10


@dataclasses.dataclass(frozen=True)
class LayerError:
    """One quantized tensor: the debugger's statistics of its int8 output against float."""

    depth: int            # its place in the graph's execution order among quantized tensors
    op_name: str
    tensor_name: str
    tensor_index: int
    num_elements: int
    stddev: float         # of the error, in real units
    mean_error: float
    max_abs_error: float
    mean_squared_error: float
    scale: float
    zero_point: int

    @property
    def rmse_over_scale(self) -> float:
        return math.sqrt(self.mean_squared_error) / self.scale if self.scale else 0.0

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "rmse/scale": round(self.rmse_over_scale, 4)}

    @classmethod
    def from_json(cls, data: dict) -> "LayerError":
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls)})


def parse_layer_statistics(text: str) -> list[LayerError]:
    """The debugger's layer_statistics_dump CSV -> LayerErrors, in graph order."""
    rows = list(csv.DictReader(io.StringIO(text)))
    return [LayerError(depth=i, op_name=r["op_name"], tensor_name=r["tensor_name"], tensor_index=int(r["tensor_idx"]),
                       num_elements=int(float(r["num_elements"])), stddev=float(r["stddev"]),
                       mean_error=float(r["mean_error"]), max_abs_error=float(r["max_abs_error"]),
                       mean_squared_error=float(r["mean_squared_error"]), scale=float(r["scale"]),
                       zero_point=int(float(r["zero_point"])))
            for i, r in enumerate(rows)]


def layer_errors(tflite_saved_model: str, representative: Callable[[], Iterable[np.ndarray]],
                 debug_images: Sequence[np.ndarray]) -> list[LayerError]:
    """Runs the quantization debugger (calibrating on `representative`) over `debug_images`
    (float [1, H, W, 3] model inputs); its statistics per quantized tensor, in graph order."""
    import tensorflow as tf

    from od_tools.export.convert import int8_converter

    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=int8_converter(tflite_saved_model, representative, float_io=True),
        debug_dataset=lambda: ([image] for image in debug_images))
    debugger.run()
    text = io.StringIO()
    debugger.layer_statistics_dump(text)
    return parse_layer_statistics(text.getvalue())


def worst(layers: Sequence[LayerError], count: int = WORST_SHOWN) -> list[LayerError]:
    return sorted(layers, key=lambda layer: -layer.rmse_over_scale)[:count]


def write_csv(layers: Sequence[LayerError], path: Path) -> None:
    fields = ["depth", "op_name", "rmse/scale", "stddev", "mean_error", "max_abs_error", "mean_squared_error",
              "scale", "zero_point", "num_elements", "tensor_index", "tensor_name"]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for layer in layers:
        writer.writerow({k: v for k, v in layer.to_json().items() if k in fields})
    write_text_atomic(path, text.getvalue())


def write_plot(layers: Sequence[LayerError], path: Path, title: str) -> None:
    """rmse/scale by depth, the worst layers marked and named by op, rounding's floor drawn."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, ax = plt.subplots(figsize=(10, 4))
    ax.plot([l.depth for l in layers], [l.rmse_over_scale for l in layers], marker=".", linewidth=0.8)
    ax.axhline(ROUNDING_ONLY, color="grey", linestyle="--", linewidth=0.8, label="rounding alone (1/sqrt(12))")
    for layer in worst(layers, 5):
        ax.annotate(f"{layer.depth} {layer.op_name}", (layer.depth, layer.rmse_over_scale), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("quantized layer (graph order)")
    ax.set_ylabel("RMSE / scale")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), fontsize="small", frameon=False)
    ax.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)


def report_lines(worst_layers: Sequence[LayerError]) -> list[str]:
    """The report's lines for the worst layers (worst first)."""
    lines = ["", f"int8 layers with the largest error (all in {DEBUG_CSV}, drawn in {DEBUG_PLOT}); rmse/scale in "
             f"quantization steps, {ROUNDING_ONLY:.2f} is rounding alone:",
             f"  {'depth':>5} {'op':<18} {'rmse/scale':>10}  tensor"]
    lines += [f"  {l.depth:>5} {l.op_name:<18} {l.rmse_over_scale:>10.3f}  {l.tensor_name[-90:]}" for l in worst_layers]
    return lines
