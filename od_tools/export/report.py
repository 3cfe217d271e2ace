"""The export report: what was written, how fast, how faithful and how accurate."""

from __future__ import annotations

import dataclasses
import json

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
    saved_model_accuracy: Accuracy
    saved_model_seconds: float
    total_seconds: float
    models: tuple[TFLiteResult, ...]
    options: dict = dataclasses.field(default_factory=dict)  # the ExportOptions the export ran with
    crowding: Crowding | None = None  # held-out images with more confident detections than max_detections
    readiness: dict[str, Readiness] = dataclasses.field(default_factory=dict)  # quantization -> phone readiness
    int8_worst_layers: tuple[LayerError, ...] = ()  # --int8_debug: the largest per-layer int8 errors
    int8_float_layers: FloatLayerSearch | None = None  # --int8_float_layers: the steps tried, the one exported
    calibration_per_class: dict[str, int] = dataclasses.field(default_factory=dict)  # int8 calibration images per class

    @property
    def passed(self) -> bool:
        return all(m.passed for m in self.models)

    @property
    def saved_model_ap50(self) -> float:
        return self.saved_model_accuracy.ap50

    def model(self, quantization: str) -> TFLiteResult:
        for m in self.models:
            if m.quantization == quantization:
                return m
        raise KeyError(quantization)

    def accuracies(self) -> dict[str, Accuracy]:
        """Model name -> its accuracy, the SavedModel first, then each TFLite model as exported."""
        return {SAVED_MODEL: self.saved_model_accuracy,
                **{m.quantization: m.worst_accuracy for m in self.models}}

    def per_class_drops(self) -> dict[str, float]:
        """Class -> how much int8 loses in AP50 against float (float32 TFLite, else the SavedModel),
        largest first; empty without an int8 model."""
        accuracies = self.accuracies()
        if "int8" not in accuracies:
            return {}
        base = accuracies.get("float32", self.saved_model_accuracy)
        int8 = accuracies["int8"]
        drops = {name: round(base.per_class_ap50[name] - int8.per_class_ap50.get(name, 0.0), 4) + 0.0  # no -0.0
                 for name in base.measured_classes()}
        return dict(sorted(drops.items(), key=lambda item: -item[1]))

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["models"] = [m.to_json() for m in self.models]
        data["passed"] = self.passed
        data["saved_model_accuracy"] = self.saved_model_accuracy.to_json()
        data["saved_model_ap50"] = self.saved_model_ap50
        data["per_class_ap50_drop_int8"] = self.per_class_drops()
        data["readiness"] = {name: r.to_json() for name, r in self.readiness.items()}
        data["int8_worst_layers"] = [layer.to_json() for layer in self.int8_worst_layers]
        data["int8_float_layers"] = self.int8_float_layers.to_json() if self.int8_float_layers else None
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"

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
            f"{'saved_model (TF)':<28} {'':>9} {self.saved_model_seconds:>7.1f}s "
            f"{self.saved_model_accuracy.ap:>6.3f} {self.saved_model_ap50:>6.3f}",
        ]
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
        names = list(drops) or self.saved_model_accuracy.measured_classes()
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


def _cell(value: float) -> str:
    return "-" if value == NO_GROUNDTRUTH else f"{value:.3f}"
