"""The export report: what was written, how fast, how faithful and how accurate."""

from __future__ import annotations

import dataclasses
import json

from od_tools.export.parity import Crowding, Parity

REPORT_JSON = "report.json"
REPORT_TEXT = "report.txt"


@dataclasses.dataclass(frozen=True)
class TFLiteResult:
    quantization: str
    file: str
    size_bytes: int
    sha256: str
    convert_seconds: float
    input_type: str                # "float32" or "uint8"
    parity: dict[str, Parity]      # interpreter name -> parity with the SavedModel
    ap50: dict[str, float]         # interpreter name -> COCO AP50
    min_mean_iou: float
    passed: bool

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["parity"] = {name: p.to_json() for name, p in self.parity.items()}
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
    saved_model_ap50: float
    saved_model_seconds: float
    total_seconds: float
    models: tuple[TFLiteResult, ...]
    options: dict = dataclasses.field(default_factory=dict)  # the ExportOptions the export ran with
    crowding: Crowding | None = None  # held-out images with more confident detections than max_detections

    @property
    def passed(self) -> bool:
        return all(m.passed for m in self.models)

    def model(self, quantization: str) -> TFLiteResult:
        for m in self.models:
            if m.quantization == quantization:
                return m
        raise KeyError(quantization)

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["models"] = [m.to_json() for m in self.models]
        data["passed"] = self.passed
        return data

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"

    def _crowding_lines(self) -> list[str]:
        """Says when the TFLite models' --max_detections drops detections the SavedModel is sure of."""
        c = self.crowding
        if c is None or not c.num_images:
            return []
        return [f"{c.num_images} of {self.num_parity_images} held-out images have more SavedModel detections with "
                f"score >= {self.parity_score_threshold} than --max_detections={c.max_detections} (up to "
                f"{c.largest} in one image): the TFLite models keep {c.max_detections} per image; export "
                f"with --max_detections={c.largest} to keep them all."]

    def table(self) -> str:
        """A short human-readable summary: one row per model, SavedModel first."""
        height, width = self.input_size
        calibration = (f"; int8 calibrated on {self.num_calibration_images} images"
                       if self.num_calibration_images else "")
        lines = [
            f"Exported {self.config_source} ({width}x{height}, {len(self.labels)} classes: "
            f"{', '.join(self.labels)}) from {self.checkpoint}",
            f"Parity on {self.num_parity_images} held-out images (reference: SavedModel detections with "
            f"score >= {self.parity_score_threshold} that the TFLite detection op can output, at most "
            f"{self.max_detections} per image){calibration}.",
            *self._crowding_lines(),
            "",
            f"{'model':<28} {'size':>9} {'convert':>8} {'AP50':>7} {'matched':>9} {'mean IoU':>9} "
            f"{'|dscore|':>9}  parity",
            f"{'saved_model (TF)':<28} {'':>9} {self.saved_model_seconds:>7.1f}s {self.saved_model_ap50:>7.3f}",
        ]
        for m in self.models:
            worst = min(m.parity.values(), key=lambda p: p.mean_iou)
            ap50 = min(m.ap50.values())
            verdict = "ok" if m.passed else f"FAILED (< {m.min_mean_iou})"
            lines.append(
                f"{m.file:<28} {m.size_bytes / 1e6:>7.2f}MB {m.convert_seconds:>7.1f}s {ap50:>7.3f} "
                f"{worst.num_matched:>4}/{worst.num_reference:<4} {worst.mean_iou:>9.4f} "
                f"{worst.mean_abs_score_delta:>9.4f}  {verdict}")
        lines.append("")
        lines.append("TFLite figures are the worse of tf.lite and ai_edge_litert; "
                     f"total {self.total_seconds:.0f}s.")
        return "\n".join(lines) + "\n"
