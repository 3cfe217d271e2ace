"""How closely a TFLite model reproduces the SavedModel: matched detections, IoU, score drift."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from od_tools.modeling import Detections


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one [4] box (ymin, xmin, ymax, xmax) with [N, 4] boxes."""
    if boxes.size == 0:
        return np.zeros((0,), np.float32)
    y0 = np.maximum(box[0], boxes[:, 0])
    x0 = np.maximum(box[1], boxes[:, 1])
    y1 = np.minimum(box[2], boxes[:, 2])
    x1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(y1 - y0, 0, None) * np.clip(x1 - x0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def above(detections: Detections, threshold: float) -> Detections:
    keep = detections.scores >= threshold
    return Detections(detections.boxes[keep], detections.classes[keep], detections.scores[keep])


@dataclasses.dataclass(frozen=True)
class Parity:
    """Reference detections (score >= threshold) and how the candidate reproduced them.

    mean_iou averages over every reference detection, counting one with no same-class
    candidate as 0, so a lost detection lowers it as much as a misplaced one.
    """

    num_reference: int
    num_matched: int        # same class, IoU >= match_iou
    mean_iou: float
    mean_abs_score_delta: float  # over matched detections
    max_abs_score_delta: float = 0.0  # over matched detections

    @property
    def matched_fraction(self) -> float:
        return self.num_matched / self.num_reference if self.num_reference else 1.0

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "matched_fraction": round(self.matched_fraction, 4)}


def compare(reference: Sequence[Detections], candidate: Sequence[Detections], score_threshold: float = 0.5,
            match_iou: float = 0.5) -> Parity:
    """Greedy matching per image, best reference score first; candidates of any score may match."""
    ious: list[float] = []
    deltas: list[float] = []
    for ref, cand in zip(reference, candidate, strict=True):
        ref = above(ref, score_threshold)
        taken = np.zeros(len(cand.scores), bool)
        for k in np.argsort(-ref.scores, kind="stable"):
            overlaps = iou(ref.boxes[k], cand.boxes)
            overlaps[(cand.classes != ref.classes[k]) | taken] = -1.0
            best = int(np.argmax(overlaps)) if overlaps.size else -1
            if best < 0 or overlaps[best] < 0:
                ious.append(0.0)
                continue
            ious.append(float(overlaps[best]))
            if overlaps[best] >= match_iou:
                taken[best] = True
                deltas.append(abs(float(cand.scores[best]) - float(ref.scores[k])))
    return Parity(
        num_reference=len(ious),
        num_matched=len(deltas),
        mean_iou=float(np.mean(ious)) if ious else 1.0,
        mean_abs_score_delta=float(np.mean(deltas)) if deltas else 0.0,
        max_abs_score_delta=float(np.max(deltas)) if deltas else 0.0,
    )


def recall(ground_truth_boxes: Sequence[np.ndarray], ground_truth_classes: Sequence[np.ndarray],
           detections: Sequence[Detections], score_threshold: float = 0.5, match_iou: float = 0.5) -> float:
    """Fraction of ground-truth objects found (same class, IoU >= match_iou, score >= threshold)."""
    found = total = 0
    for boxes, classes, dets in zip(ground_truth_boxes, ground_truth_classes, detections, strict=True):
        dets = above(dets, score_threshold)
        taken = np.zeros(len(dets.scores), bool)
        for box, cls in zip(boxes, classes):
            total += 1
            overlaps = iou(box, dets.boxes)
            overlaps[(dets.classes != cls) | taken] = -1.0
            if overlaps.size and overlaps.max() >= match_iou:
                taken[int(np.argmax(overlaps))] = True
                found += 1
    return found / total if total else 1.0
