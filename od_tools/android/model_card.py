"""The model card shipped beside detect.tflite: what an app developer needs to wire the model in.

It is built from an export's report.json, so every figure in it was measured by the export.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from od_tools.common.files import sha256
from od_tools.label_map import ANDROID_LABELS_FILE

if TYPE_CHECKING:  # the installer reads model cards and starts without TensorFlow, which the report's module loads
    from od_tools.export.report import ExportReport

MODEL_FILE = "detect.tflite"
MODEL_CARD_FILE = "model_card.json"
OUTPUTS = ("detection_boxes", "detection_classes", "detection_scores", "num_detections")


def build_model_card(report: ExportReport, quantization: str, model: bytes, labels: bytes) -> dict[str, Any]:
    """The card for the `quantization` model of an export report."""
    entry = report.model(quantization)
    height, width = report.input_size
    quantized = entry.input_type == "uint8"
    label_lines: Sequence[str] = labels.decode("utf-8").splitlines()
    return {
        "model_file": MODEL_FILE,
        "labels_file": ANDROID_LABELS_FILE,
        "quantization": quantization,
        "quantized": quantized,
        "input": {
            "height": height,
            "width": width,
            "channels": 3,
            "color_space": "RGB",
            "type": entry.input_type,
            # What the app feeds: raw pixels for a quantized model, (pixel - mean) / std else.
            "normalization": None if quantized else {"mean": [report.input_mean], "std": [report.input_std]},
        },
        "outputs": list(OUTPUTS),
        "box_format": "ymin, xmin, ymax, xmax in [0, 1]",
        "class_index": "line of labelmap.txt (0-based)",
        "max_detections": report.max_detections,
        "labels": list(label_lines),
        "metrics": {
            "ap50": entry.ap50,
            "saved_model_ap50": report.saved_model_ap50,
            "parity": {name: p.to_json() for name, p in entry.parity.items()},
            "num_eval_images": report.num_parity_images,
        },
        # --int8_float_layers: the int8 layers this model keeps in float, and why.
        **_float_layers(report, quantization),
        "sha256": {MODEL_FILE: sha256(model), ANDROID_LABELS_FILE: sha256(labels)},
        "source": {"config": report.config_source, "checkpoint": report.checkpoint},
    }


def _float_layers(report: ExportReport, quantization: str) -> dict[str, Any]:
    search = report.int8_float_layers
    if quantization != "int8" or not search:
        return {}
    step = search.chosen_step
    return {"int8_float_layers": {"mode": search.mode, "layers": list(step.float_layers), "ap50": step.ap50,
                                  "float32_ap50": search.float_ap50, "max_ap50_drop": search.max_ap50_drop,
                                  "reached": search.reached}}
