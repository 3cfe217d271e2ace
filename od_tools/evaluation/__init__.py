"""Evaluation with the Object Detection API's COCO evaluator (pycocotools): checkpoints as
model_main_tf2 evaluates them, SavedModels and TFLite models on the eval TFRecords; rendered PNGs."""

from od_tools.evaluation.coco import METRIC_NAMES, GroundTruth, coco_metrics, short_metrics
from od_tools.evaluation.evaluator import (
    EvalResult,
    EvalSettings,
    evaluate,
    format_metrics,
    write_metrics_json,
    write_summaries,
)
from od_tools.evaluation.render import RenderOptions, draw_detections, side_by_side

__all__ = [
    "METRIC_NAMES",
    "EvalResult",
    "EvalSettings",
    "GroundTruth",
    "RenderOptions",
    "coco_metrics",
    "draw_detections",
    "evaluate",
    "format_metrics",
    "short_metrics",
    "side_by_side",
    "write_metrics_json",
    "write_summaries",
]
