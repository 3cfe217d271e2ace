"""COCO detection metrics computed by pycocotools, from plain arrays.

Boxes are [ymin, xmin, ymax, xmax] normalised to their image, as in TFRecords and detector
outputs; they become COCO's pixel [x, y, width, height] here. Category ids are label map ids.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from typing import Sequence

import numpy as np
from pycocotools import coco as coco_api
from pycocotools import cocoeval

# pycocotools' `stats`, in its order.
METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR@1", "AR@10", "AR@100", "ARs", "ARm", "ARl")


@dataclasses.dataclass(frozen=True)
class GroundTruth:
    image_id: int
    height: int
    width: int
    boxes: np.ndarray  # [N, 4] normalised ymin, xmin, ymax, xmax
    classes: np.ndarray  # [N] label map ids
    is_crowd: np.ndarray | None = None  # [N] bool
    area: np.ndarray | None = None  # [N] pixels (e.g. mask area from COCO); default: box area


@dataclasses.dataclass(frozen=True)
class ImageDetections:
    image_id: int
    boxes: np.ndarray  # [M, 4] normalised ymin, xmin, ymax, xmax
    classes: np.ndarray  # [M]
    scores: np.ndarray  # [M]


def _xywh(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    ymin, xmin, ymax, xmax = (boxes[:, i] for i in range(4))
    return np.stack([xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height], axis=1)


def coco_dataset(groundtruth: Sequence[GroundTruth], categories: dict[int, str]) -> dict:
    """The ground truth as a COCO annotation file's dictionary."""
    images, annotations = [], []
    for gt in groundtruth:
        images.append({"id": gt.image_id, "height": gt.height, "width": gt.width})
        xywh = _xywh(gt.boxes, gt.height, gt.width)
        for i, (box, cls) in enumerate(zip(xywh, np.asarray(gt.classes).reshape(-1))):
            area = float(gt.area[i]) if gt.area is not None and gt.area[i] > 0 else float(box[2] * box[3])
            crowd = int(gt.is_crowd[i]) if gt.is_crowd is not None else 0
            annotations.append({"id": len(annotations) + 1, "image_id": gt.image_id, "category_id": int(cls),
                                "bbox": [float(v) for v in box], "area": area, "iscrowd": crowd})
    return {"images": images, "annotations": annotations,
            "categories": [{"id": i, "name": n} for i, n in sorted(categories.items())]}


def coco_detections(detections: Sequence[ImageDetections], sizes: dict[int, tuple[int, int]],
                    max_per_image: int = 100) -> list[dict]:
    """Detections in COCO's results format (the best `max_per_image` per image)."""
    results = []
    for det in detections:
        height, width = sizes[det.image_id]
        order = np.argsort(-np.asarray(det.scores), kind="stable")[:max_per_image]
        xywh = _xywh(np.asarray(det.boxes)[order], height, width)
        for box, cls, score in zip(xywh, np.asarray(det.classes)[order], np.asarray(det.scores)[order]):
            results.append({"image_id": det.image_id, "category_id": int(cls),
                            "bbox": [float(v) for v in box], "score": float(score)})
    return results


def coco_metrics(groundtruth: Sequence[GroundTruth], detections: Sequence[ImageDetections],
                 categories: dict[int, str], per_category: bool = False) -> dict:
    """AP, AP50, AP75, APs/m/l and AR@1/10/100 (+ per-category AP) as pycocotools computes them.

    A value of -1 means "no ground truth of that kind" (e.g. APs without small objects), as in
    pycocotools.
    """
    gt_api = coco_api.COCO()
    gt_api.dataset = coco_dataset(groundtruth, categories)
    with contextlib.redirect_stdout(io.StringIO()):
        gt_api.createIndex()
    sizes = {gt.image_id: (gt.height, gt.width) for gt in groundtruth}
    results = coco_detections(detections, sizes)
    if not results:
        metrics = {name: 0.0 for name in METRIC_NAMES}
        if per_category:
            metrics["per_category_AP"] = {name: 0.0 for name in categories.values()}
        return metrics
    with contextlib.redirect_stdout(io.StringIO()):
        dt_api = gt_api.loadRes(results)
        evaluator = cocoeval.COCOeval(gt_api, dt_api, iouType="bbox")
        evaluator.params.imgIds = sorted(sizes)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    metrics = {name: float(value) for name, value in zip(METRIC_NAMES, evaluator.stats)}
    if per_category:
        precision = evaluator.eval["precision"]  # [iou thresholds, recall, category, area, max dets]
        per = {}
        for k, category_id in enumerate(evaluator.params.catIds):
            values = precision[:, :, k, 0, -1]
            values = values[values > -1]
            per[categories[category_id]] = float(values.mean()) if values.size else -1.0
        metrics["per_category_AP"] = per
    return metrics
