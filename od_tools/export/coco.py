"""COCO AP50 with pycocotools, for putting the SavedModel and the TFLite models side by side."""

from __future__ import annotations

import contextlib
import io
from typing import Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from od_tools.export.images import LabeledImage
from od_tools.export.runtime import Detections


def _xywh(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    ymin, xmin, ymax, xmax = (boxes[:, i] for i in range(4))
    return np.stack([xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height], axis=-1)


def ap50(images: Sequence[LabeledImage], detections: Sequence[Detections], num_classes: int) -> float:
    """COCO AP at IoU 0.5 (all areas, 100 detections) of the detections against the images' boxes."""
    gt = {"images": [], "annotations": [], "categories": [{"id": i} for i in range(1, num_classes + 1)]}
    results = []
    for image_id, (image, dets) in enumerate(zip(images, detections, strict=True), start=1):
        height, width = image.original_size
        gt["images"].append({"id": image_id, "height": height, "width": width})
        for box, cls in zip(_xywh(image.boxes, height, width), image.classes):
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": image_id,
                                      "category_id": int(cls), "bbox": [float(v) for v in box],
                                      "area": float(box[2] * box[3]), "iscrowd": 0})
        for box, cls, score in zip(_xywh(dets.boxes, height, width), dets.classes, dets.scores):
            results.append({"image_id": image_id, "category_id": int(cls),
                            "bbox": [float(v) for v in box], "score": float(score)})
    if not gt["annotations"]:
        return float("nan")
    if not results:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco_gt = COCO()
        coco_gt.dataset = gt
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[1])
