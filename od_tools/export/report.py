"""The export report: what was written, how fast, how faithful and how accurate.

One type for every export: written by the TF2 exporter and the TF1 graph conversion (which has no
SavedModel and no held-out accuracy), read back by the Android assets, the model card and the
benchmark (`read_report`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Mapping

from od_tools.common.errors import UserError
from od_tools.common.files import sha256

from od_tools.evaluation.coco import NO_GROUNDTRUTH, Accuracy
from od_tools.export.float_layers import FloatLayerSearch
from od_tools.export.int8_debug import LayerError, report_lines as int8_debug_lines
from od_tools.export.parity import Crowding, Parity
from od_tools.export.readiness import Readiness, lines_by_model

REPORT_JSON = "report.json"
REPORT_TEXT = "report.txt"
SAVED_MODEL = "saved_model"
SHOWN_CLASSES = 10  # classes the printed table shows (the largest int8 drops); report.txt has all
FEW_CALIBRATION_IMAGES = 10  # a class in fewer int8 calibration images than this is named


def tflite_file_name(model_name: str) -> str:
    """detect_<quantization>.tflite: every exported model's file name (TF1 conversions' too)."""
    return f"detect_{model_name}.tflite"


@dataclasses.dataclass(frozen=True)
class TFLiteResult:
    quantization: str
    file: str
    size_bytes: int
    sha256: str
    convert_seconds: float
    input_type: str                # "float32" or "uint8"
    parity: dict[str, Parity]      # interpreter name -> parity with the SavedModel
    accuracy: dict[str, Accuracy]  # interpreter name -> COCO AP, AP50, per class, on the held-out images
    min_mean_iou: float
    passed: bool

    @property
    def ap50(self) -> dict[str, float]:
        return {name: a.ap50 for name, a in self.accuracy.items()}

    @property
    def worst_accuracy(self) -> Accuracy:
        """The interpreter with the lower AP50: the figure the report stands by."""
        return min(self.accuracy.values(), key=lambda a: a.ap50)

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["parity"] = {name: p.to_json() for name, p in self.parity.items()}
        data["accuracy"] = {name: a.to_json() for name, a in self.accuracy.items()}
        data["ap50"] = self.ap50
        return data

    def read_model(self, export_dir: Path) -> bytes:
        """The model file of an export, checked against the sha256 its report recorded."""
        path = export_dir / self.file
        if not path.is_file():
            raise UserError(f"{path}: missing from the export; re-run the export")
        model = path.read_bytes()
        if sha256(model) != self.sha256:
            raise UserError(f"{path}: sha256 differs from {REPORT_JSON}; re-run the export")
        return model

    @classmethod
    def from_json(cls, data: Mapping) -> "TFLiteResult":
        return cls(quantization=data["quantization"], file=data["file"], size_bytes=data["size_bytes"],
                   sha256=data["sha256"], convert_seconds=data["convert_seconds"], input_type=data["input_type"],
                   parity={name: Parity.from_json(p) for name, p in data["parity"].items()},
                   accuracy={name: Accuracy.from_json(a) for name, a in data["accuracy"].items()},
                   min_mean_iou=data["min_mean_iou"], passed=data["passed"])


@dataclasses.dataclass(frozen=True)
class TF1Conversion:
    """A TF1 tflite_graph.pb converted as TOCO did. Its uint8 model's parity is its agreement with
    the float model on synthetic images: there is no SavedModel to compare with."""

    inference_types: tuple[str, ...]
    default_ranges: tuple[float, float] | None  # the activation range assumed where the graph has none
    fake_quant_ranges: bool                     # the graph carries quantization-aware training's ranges

    def to_json(self) -> dict:
        return {"inference_types": list(self.inference_types), "fake_quant_ranges": self.fake_quant_ranges,
                "default_ranges": list(self.default_ranges) if self.default_ranges else None}

    @classmethod
    def from_json(cls, data: Mapping) -> "TF1Conversion":
        ranges = data["default_ranges"]
        return cls(inference_types=tuple(data["inference_types"]), fake_quant_ranges=data["fake_quant_ranges"],
                   default_ranges=(float(ranges[0]), float(ranges[1])) if ranges else None)


@dataclasses.dataclass(frozen=True)
class ExportReport:
    config_source: str
    checkpoint: str
    input_size: tuple[int, int]
    input_mean: float          # float inputs hold (pixel - input_mean) / input_std
    input_std: float
    max_detections: int
    labels: tuple[str, ...]
    num_parity_images: int
    num_calibration_images: int
    parity_score_threshold: float
    saved_model_accuracy: Accuracy | None  # None for a TF1 conversion
    saved_model_seconds: float
    total_seconds: float
    models: tuple[TFLiteResult, ...]
    options: dict = dataclasses.field(default_factory=dict)  # the ExportOptions the export ran with
    crowding: Crowding | None = None  # held-out images with more confident detections than max_detections
    readiness: dict[str, Readiness] = dataclasses.field(default_factory=dict)  # quantization -> phone readiness
    int8_worst_layers: tuple[LayerError, ...] = ()  # --int8_debug: the largest per-layer int8 errors
    int8_float_layers: FloatLayerSearch | None = None  # --int8_float_layers: the steps tried, the one exported
    calibration_per_class: dict[str, int] = dataclasses.field(default_factory=dict)  # int8 calibration images per class
    label_map: str = ""  # a TF1 conversion: the label_map.pbtxt given (a TF2 export reads the config's)
    tf1_conversion: TF1Conversion | None = None

    @property
    def passed(self) -> bool:
        return all(m.passed for m in self.models)

    @property
    def saved_model_ap50(self) -> float | None:
        return self.saved_model_accuracy.ap50 if self.saved_model_accuracy else None

    def model(self, quantization: str) -> TFLiteResult:
        for m in self.models:
            if m.quantization == quantization:
                return m
        raise KeyError(quantization)

    def accuracies(self) -> dict[str, Accuracy]:
        """Model name -> its accuracy, the SavedModel first, then each TFLite model as exported."""
        saved_model = {SAVED_MODEL: self.saved_model_accuracy} if self.saved_model_accuracy else {}
        return {**saved_model, **{m.quantization: m.worst_accuracy for m in self.models if m.accuracy}}

    def per_class_drops(self) -> dict[str, float]:
        """Class -> how much int8 loses in AP50 against float (float32 TFLite, else the SavedModel),
        largest first; empty without an int8 model."""
        accuracies = self.accuracies()
        if "int8" not in accuracies:
            return {}
        base = accuracies.get("float32", accuracies.get(SAVED_MODEL))
        if base is None:
            return {}
        int8 = accuracies["int8"]
        drops = {name: round(base.per_class_ap50[name] - int8.per_class_ap50.get(name, 0.0), 4) + 0.0  # no -0.0
                 for name in base.measured_classes()}
        return dict(sorted(drops.items(), key=lambda item: -item[1]))

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["models"] = [m.to_json() for m in self.models]
        data["passed"] = self.passed
        data["saved_model_accuracy"] = self.saved_model_accuracy.to_json() if self.saved_model_accuracy else None
        data["saved_model_ap50"] = self.saved_model_ap50
        data["per_class_ap50_drop_int8"] = self.per_class_drops()
        data["readiness"] = {name: r.to_json() for name, r in self.readiness.items()}
        data["int8_worst_layers"] = [layer.to_json() for layer in self.int8_worst_layers]
        data["int8_float_layers"] = self.int8_float_layers.to_json() if self.int8_float_layers else None
        data["tf1_conversion"] = self.tf1_conversion.to_json() if self.tf1_conversion else None
        return data

    @classmethod
    def from_json(cls, data: Mapping) -> "ExportReport":
        """The report as `to_json` wrote it (the figures it derives, such as `passed`, are recomputed)."""
        def optional(key, read):
            return read(data[key]) if data.get(key) else None

        return cls(
            config_source=data["config_source"], checkpoint=data["checkpoint"],
            input_size=(int(data["input_size"][0]), int(data["input_size"][1])),
            input_mean=data["input_mean"], input_std=data["input_std"], max_detections=data["max_detections"],
            labels=tuple(data["labels"]), num_parity_images=data["num_parity_images"],
            num_calibration_images=data["num_calibration_images"],
            parity_score_threshold=data["parity_score_threshold"],
            saved_model_accuracy=optional("saved_model_accuracy", Accuracy.from_json),
            saved_model_seconds=data["saved_model_seconds"], total_seconds=data["total_seconds"],
            models=tuple(TFLiteResult.from_json(m) for m in data["models"]), options=dict(data.get("options", {})),
            crowding=optional("crowding", lambda c: Crowding(**c)),
            readiness={name: Readiness.from_json(r) for name, r in data.get("readiness", {}).items()},
            int8_worst_layers=tuple(LayerError.from_json(layer) for layer in data.get("int8_worst_layers", ())),
            int8_float_layers=optional("int8_float_layers", FloatLayerSearch.from_json),
            calibration_per_class=dict(data.get("calibration_per_class", {})), label_map=data.get("label_map", ""),
            tf1_conversion=optional("tf1_conversion", TF1Conversion.from_json))

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"

    def write(self, export_dir: Path) -> None:
        (export_dir / REPORT_JSON).write_text(self.dumps(), encoding="utf-8")

    def _calibration_lines(self) -> list[str]:
        """Which classes the int8 calibration saw too little of (their activations may fall outside the ranges)."""
        few = {name: n for name, n in self.calibration_per_class.items() if n < FEW_CALIBRATION_IMAGES}
        if not self.calibration_per_class:
            return []
        shown = ", ".join(f"{name} {n}" for name, n in list(self.calibration_per_class.items())[:12])
        more = " ..." if len(self.calibration_per_class) > 12 else ""
        lines = [f"Calibration images per class (chosen across classes, the rarest first): {shown}{more}."]
        if few:
            lines.append(f"Too few (< {FEW_CALIBRATION_IMAGES}) for int8 to set its ranges from: "
                         + ", ".join(f"{name} ({n})" for name, n in few.items())
                         + "; add training images of them, or raise --num_calibration_images.")
        return lines

    def _crowding_lines(self) -> list[str]:
        """Says when the TFLite models' --max_detections drops detections the SavedModel is sure of."""
        c = self.crowding
        if c is None or not c.num_images:
            return []
        return [f"{c.num_images} of {self.num_parity_images} held-out images have more SavedModel detections with "
                f"score >= {self.parity_score_threshold} than --max_detections={c.max_detections} (up to "
                f"{c.largest} in one image): the TFLite models keep {c.max_detections} per image; export "
                f"with --max_detections={c.largest} to keep them all."]

    def table(self, max_classes: int | None = None) -> str:
        """A human-readable summary: one row per model, SavedModel first, then per-class AP50
        (all classes, or the `max_classes` int8 costs most)."""
        height, width = self.input_size
        calibration = (f"; int8 calibrated on {self.num_calibration_images} images"
                       if self.num_calibration_images else "")
        lines = [
            f"Exported {self.config_source} ({width}x{height}, {len(self.labels)} classes: "
            f"{', '.join(self.labels)}) from {self.checkpoint}",
            f"Parity on {self.num_parity_images} held-out images (reference: SavedModel detections with "
            f"score >= {self.parity_score_threshold} that the TFLite detection op can output, at most "
            f"{self.max_detections} per image){calibration}.",
            *self._calibration_lines(),
            *self._crowding_lines(),
            "",
            f"{'model':<28} {'size':>9} {'convert':>8} {'AP':>6} {'AP50':>6} {'matched':>9} {'mean IoU':>9} "
            f"{'|dscore|':>9}  parity",
        ]
        if self.saved_model_accuracy:
            lines.append(f"{'saved_model (TF)':<28} {'':>9} {self.saved_model_seconds:>7.1f}s "
                         f"{self.saved_model_accuracy.ap:>6.3f} {self.saved_model_accuracy.ap50:>6.3f}")
        for m in self.models:
            worst = min(m.parity.values(), key=lambda p: p.mean_iou)
            accuracy = m.worst_accuracy
            verdict = "ok" if m.passed else f"FAILED (< {m.min_mean_iou})"
            lines.append(
                f"{m.file:<28} {m.size_bytes / 1e6:>7.2f}MB {m.convert_seconds:>7.1f}s {accuracy.ap:>6.3f} "
                f"{accuracy.ap50:>6.3f} {worst.num_matched:>4}/{worst.num_reference:<4} {worst.mean_iou:>9.4f} "
                f"{worst.mean_abs_score_delta:>9.4f}  {verdict}")
        lines.append("")
        lines.append("TFLite figures are the worse of tf.lite and ai_edge_litert; "
                     f"total {self.total_seconds:.0f}s.")
        lines += self.per_class_table(max_classes)
        if self.int8_worst_layers:
            lines += int8_debug_lines(self.int8_worst_layers)
        if self.int8_float_layers:
            lines += self.int8_float_layers.lines()
        if self.readiness:
            lines += lines_by_model(self.readiness, [m.quantization for m in self.models])
        return "\n".join(lines) + "\n"

    def per_class_table(self, max_classes: int | None = None) -> list[str]:
        """AP50 of each class for each model side by side, with int8's drop against float: the
        classes quantization costs, largest drop first (all of them, or the first `max_classes`)."""
        accuracies = self.accuracies()
        drops = self.per_class_drops()
        names = list(drops) or (self.saved_model_accuracy.measured_classes() if self.saved_model_accuracy else [])
        if not names:
            return []
        shown = names if max_classes is None else names[:max_classes]
        width = max(12, *(len(n) for n in shown)) + 1
        columns = [n[:14] for n in accuracies]
        lines = ["", f"Per-class AP50 on the {self.num_parity_images} held-out images"
                 + (" (int8 drop: against float32, else the SavedModel; largest first)" if drops else "") + ":",
                 f"{'class':<{width}}" + "".join(f" {c:>14}" for c in columns) + (f" {'int8 drop':>10}" if drops else "")]
        for name in shown:
            cells = "".join(f" {_cell(a.per_class_ap50.get(name, NO_GROUNDTRUTH)):>14}" for a in accuracies.values())
            lines.append(f"{name:<{width}}{cells}" + (f" {round(drops[name], 3) + 0.0:>+10.3f}" if drops else ""))
        if len(shown) < len(names):
            lines.append(f"... {len(names) - len(shown)} more classes in {REPORT_TEXT}")
        unmeasured = len(self.saved_model_accuracy.per_class_ap50) - len(names)
        if unmeasured > 0:
            lines.append(f"({unmeasured} classes have no ground truth in the held-out images and no figures)")
        return lines


def read_report(export_dir: Path) -> ExportReport:
    """The report.json of an export folder; a folder that is not an export is named."""
    path = export_dir / REPORT_JSON
    if not path.is_file():
        raise UserError(f"{path}: not found; {export_dir} is not an export's --output_directory")
    try:
        return ExportReport.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path}: not a report this version of the toolchain reads ({type(e).__name__}: {e}); "
                        "re-run the export") from e


def _cell(value: float) -> str:
    return "-" if value == NO_GROUNDTRUTH else f"{value:.3f}"
