"""COCO detection metrics from plain arrays, computed by the Object Detection API's COCO evaluator
(`coco_evaluation.CocoDetectionEvaluator`, on pycocotools), the one its TF2 eval loop uses.

Boxes are [ymin, xmin, ymax, xmax] normalised to their image, as in TFRecords and detector
outputs; they are scaled to pixels here so COCO's small/medium/large areas mean what they say.
Category ids are label map ids.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from typing import Mapping, Sequence

import numpy as np
from object_detection.core import standard_fields as fields
from object_detection.metrics import coco_evaluation

from od_tools.modeling import Detections

# Short names of the OD API's COCO box metrics, in pycocotools' order.
METRIC_NAMES = {
    "DetectionBoxes_Precision/mAP": "AP",
    "DetectionBoxes_Precision/mAP@.50IOU": "AP50",
    "DetectionBoxes_Precision/mAP@.75IOU": "AP75",
    "DetectionBoxes_Precision/mAP (small)": "APs",
    "DetectionBoxes_Precision/mAP (medium)": "APm",
    "DetectionBoxes_Precision/mAP (large)": "APl",
    "DetectionBoxes_Recall/AR@1": "AR@1",
    "DetectionBoxes_Recall/AR@10": "AR@10",
    "DetectionBoxes_Recall/AR@100": "AR@100",
    "DetectionBoxes_Recall/AR@100 (small)": "ARs",
    "DetectionBoxes_Recall/AR@100 (medium)": "ARm",
    "DetectionBoxes_Recall/AR@100 (large)": "ARl",
}
# Mask R-CNN's mask metrics (coco_mask_metrics), short names prefixed "mask_".
MASK_METRIC_NAMES = {name.replace("DetectionBoxes_", "DetectionMasks_"): f"mask_{short}"
                     for name, short in METRIC_NAMES.items()}
PER_CATEGORY_PREFIX = "DetectionBoxes_PerformanceByCategory/mAP/"
PER_CATEGORY_AP50_PREFIX = "DetectionBoxes_Precision/mAP@.50IOU ByCategory/"
NO_GROUNDTRUTH = -1.0  # pycocotools' value of a metric with nothing to measure (e.g. a class absent from the images)


@dataclasses.dataclass(frozen=True)
class GroundTruth:
    image_id: int
    height: int
    width: int
    boxes: np.ndarray  # [N, 4] normalised ymin, xmin, ymax, xmax
    classes: np.ndarray  # [N] label map ids
    is_crowd: np.ndarray | None = None  # [N] bool
    area: np.ndarray | None = None  # [N] pixels (e.g. mask area from COCO); default: box area
    masks: np.ndarray | None = None  # [N, height, width] 0/1 instance masks, when the records hold them


def _pixels(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.asarray(boxes, np.float32).reshape(-1, 4) * np.array([height, width, height, width], np.float32)


def _groundtruth_info(gt: GroundTruth) -> dict:
    """One image's boxes (pixels), classes and crowd flags as the OD API's evaluators take them."""
    info = {fields.InputDataFields.groundtruth_boxes: _pixels(gt.boxes, gt.height, gt.width),
            fields.InputDataFields.groundtruth_classes: np.asarray(gt.classes, np.int32).reshape(-1)}
    if gt.is_crowd is not None:
        info[fields.InputDataFields.groundtruth_is_crowd] = np.asarray(gt.is_crowd, np.int32).reshape(-1)
    return info


def _by_category(od_api_metrics: Mapping[str, float], prefix: str) -> dict[str, float]:
    return {name[len(prefix):]: float(value) for name, value in od_api_metrics.items() if name.startswith(prefix)}


def short_metrics(od_api_metrics: Mapping[str, float]) -> dict:
    """The OD API's metric names -> AP, AP50, ... (+ `per_category_AP`, `per_category_AP50` by class
    name; mask_AP, mask_AP50, ... where there are mask metrics)."""
    metrics: dict = {short: float(od_api_metrics[name]) for name, short in (METRIC_NAMES | MASK_METRIC_NAMES).items()
                     if name in od_api_metrics}
    for key, prefix in (("per_category_AP", PER_CATEGORY_PREFIX), ("per_category_AP50", PER_CATEGORY_AP50_PREFIX)):
        per_category = _by_category(od_api_metrics, prefix)
        if per_category:
            metrics[key] = per_category
    return metrics


@dataclasses.dataclass(frozen=True)
class Accuracy:
    """COCO AP and AP50, overall and per class name: what a model's exports are compared on.

    A class without ground truth in the images has NO_GROUNDTRUTH (-1) for its values."""

    ap: float
    ap50: float
    per_class_ap: dict[str, float]
    per_class_ap50: dict[str, float]

    @classmethod
    def from_metrics(cls, metrics: Mapping) -> "Accuracy":
        """From coco_metrics(..., per_category=True); figures rounded to 4 places, as reports show them."""
        def rounded(values: Mapping[str, float]) -> dict[str, float]:
            return {name: round(float(v), 4) for name, v in values.items()}

        return cls(ap=round(float(metrics["AP"]), 4), ap50=round(float(metrics["AP50"]), 4),
                   per_class_ap=rounded(metrics.get("per_category_AP", {})),
                   per_class_ap50=rounded(metrics.get("per_category_AP50", {})))

    @classmethod
    def from_json(cls, data: Mapping) -> "Accuracy":
        return cls(ap=data["ap"], ap50=data["ap50"], per_class_ap=dict(data["per_class_ap"]),
                   per_class_ap50=dict(data["per_class_ap50"]))

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def measured_classes(self) -> list[str]:
        """The classes with ground truth in the images, in label map order."""
        return [name for name, value in self.per_class_ap.items() if value != NO_GROUNDTRUTH]


def accuracy(groundtruth: Sequence[GroundTruth], detections: Sequence[Detections],
             categories: dict[int, str]) -> Accuracy:
    """COCO AP, AP50 and both per class, from the OD API's COCO evaluator."""
    return Accuracy.from_metrics(coco_metrics(groundtruth, detections, categories, per_category=True))


def coco_metrics(groundtruth: Sequence[GroundTruth], detections: Sequence[Detections],
                 categories: dict[int, str], per_category: bool = False) -> dict:
    """AP, AP50, AP75, APs/m/l and AR@1/10/100 (+ per-category AP), as the OD API reports them.

    `detections[i]` are the detections on the image of `groundtruth[i]`.

    A value of -1 means "no ground truth of that kind" (e.g. APs without small objects), as in
    pycocotools.
    """
    evaluator = coco_evaluation.CocoDetectionEvaluator(
        [{"id": i, "name": name} for i, name in sorted(categories.items())],
        include_metrics_per_category=per_category, all_metrics_per_category=per_category)
    if len(detections) != len(groundtruth):
        raise ValueError(f"{len(detections)} detections for {len(groundtruth)} images: give one per image")
    for gt in groundtruth:
        info = _groundtruth_info(gt)
        if gt.area is not None and np.all(np.asarray(gt.area) > 0):
            info[fields.InputDataFields.groundtruth_area] = np.asarray(gt.area, np.float32).reshape(-1)
        evaluator.add_single_ground_truth_image_info(gt.image_id, info)
    for gt, det in zip(groundtruth, detections):
        evaluator.add_single_detected_image_info(gt.image_id, {
            fields.DetectionResultFields.detection_boxes: _pixels(det.boxes, gt.height, gt.width),
            fields.DetectionResultFields.detection_scores: np.asarray(det.scores, np.float32).reshape(-1),
            fields.DetectionResultFields.detection_classes: np.asarray(det.classes, np.int32).reshape(-1)})
    if not any(len(np.asarray(d.scores).reshape(-1)) for d in detections):
        metrics = {name: 0.0 for name in METRIC_NAMES.values()}
        if per_category:
            present = {int(c) for gt in groundtruth for c in np.asarray(gt.classes).reshape(-1)}
            values = {name: 0.0 if i in present else NO_GROUNDTRUTH for i, name in categories.items()}
            metrics["per_category_AP"], metrics["per_category_AP50"] = values, dict(values)
        return metrics
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its table
        return short_metrics(evaluator.evaluate())


def mask_metrics(groundtruth: Sequence[GroundTruth], detections: Sequence[Detections],
                 categories: dict[int, str]) -> dict:
    """mask_AP, mask_AP50, ... from the OD API's COCO mask evaluator (what `coco_mask_metrics`
    runs): each detection's box mask placed on its image (`Detections.image_masks`) against the
    records' instance masks. Needs ground-truth masks for every image and detections with masks."""
    if len(detections) != len(groundtruth):
        raise ValueError(f"{len(detections)} detections for {len(groundtruth)} images: give one per image")
    evaluator = coco_evaluation.CocoMaskEvaluator([{"id": i, "name": name} for i, name in sorted(categories.items())])
    for gt in groundtruth:
        masks = np.zeros((0, gt.height, gt.width), np.uint8) if gt.masks is None else gt.masks
        info = _groundtruth_info(gt) | {fields.InputDataFields.groundtruth_instance_masks: np.asarray(masks, np.uint8)}
        evaluator.add_single_ground_truth_image_info(gt.image_id, info)
    for gt, det in zip(groundtruth, detections):
        evaluator.add_single_detected_image_info(gt.image_id, {
            fields.DetectionResultFields.detection_scores: np.asarray(det.scores, np.float32).reshape(-1),
            fields.DetectionResultFields.detection_classes: np.asarray(det.classes, np.int32).reshape(-1),
            fields.DetectionResultFields.detection_masks: det.image_masks(gt.height, gt.width).astype(np.uint8)})
    if not any(len(d) for d in detections):
        return {name: 0.0 for name in MASK_METRIC_NAMES.values()}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its table
        return short_metrics(evaluator.evaluate())
