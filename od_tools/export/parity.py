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
    return detections.select(detections.scores >= threshold)


def one_class_per_box(detections: Detections, iou_threshold: float) -> Detections:
    """What an SSD's TFLite detection op keeps of the SavedModel's detections.

    The SavedModel runs NMS per class, so one object can come out twice, as a circle at 0.55
    and a square at 0.54; the TFLite op (fast NMS, max_classes_per_detection 1) gives each box
    its best class and then suppresses across classes. Greedy, best score first: a detection
    goes when it overlaps a kept one by more than the model's NMS `iou_threshold`.
    """
    keep: list[int] = []
    for k in np.argsort(-detections.scores, kind="stable"):
        if not keep or iou(detections.boxes[k], detections.boxes[keep]).max() <= iou_threshold:
            keep.append(int(k))
    return detections.select(np.array(keep, np.int64))


@dataclasses.dataclass(frozen=True)
class Crowding:
    """Held-out images with more confident reference detections than the TFLite model outputs."""

    num_images: int          # images over the limit
    largest: int             # the most confident reference detections in one image
    max_detections: int      # the limit: what the TFLite model outputs per image

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def crowding(reference: Sequence[Detections], max_detections: int, score_threshold: float = 0.5) -> Crowding:
    counts = [int(np.count_nonzero(r.scores >= score_threshold)) for r in reference]
    return Crowding(num_images=sum(c > max_detections for c in counts), largest=max(counts, default=0),
                    max_detections=max_detections)


@dataclasses.dataclass(frozen=True)
class Parity:
    """Reference detections (score >= threshold, at most max_detections per image) and how the
    candidate reproduced them.

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

    @classmethod
    def from_json(cls, data: dict) -> "Parity":
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


def _match(ref: Detections, cand: Detections, match_iou: float) -> list[tuple[float, float | None]]:
    """Greedy matching, best reference score first: per reference detection (in that order) its
    IoU with the best same-class candidate left, and the score difference when that is a match."""
    taken = np.zeros(len(cand.scores), bool)
    result: list[tuple[float, float | None]] = []
    for k in np.argsort(-ref.scores, kind="stable"):
        overlaps = iou(ref.boxes[k], cand.boxes)
        overlaps[(cand.classes != ref.classes[k]) | taken] = -1.0
        best = int(np.argmax(overlaps)) if overlaps.size else -1
        if best < 0 or overlaps[best] < 0:
            result.append((0.0, None))
        elif overlaps[best] >= match_iou:
            taken[best] = True
            result.append((float(overlaps[best]), abs(float(cand.scores[best]) - float(ref.scores[k]))))
        else:
            result.append((float(overlaps[best]), None))
    return result


def _first(detections: Detections, limit: int) -> Detections:
    return detections.select(np.argsort(-detections.scores, kind="stable")[:limit])


def _crowded(ref: Detections, cand: Detections, score_threshold: float, match_iou: float,
             limit: int) -> list[tuple[float, float | None]]:
    """An image with more reference detections than the candidate can hold (`limit`): each of the
    candidate's confident detections must be one the reference makes (the best same-class one
    left), and the places it leaves empty count as lost. Which `limit` of many close detections
    survive NMS differs between the two models (the SavedModel clips boxes to the image before
    its NMS, the TFLite detection op does not), so the reference's own top `limit` is no target."""
    found = _match(_first(above(cand, score_threshold), limit), ref, match_iou)
    return found + [(0.0, None)] * (limit - len(found))


def compare(reference: Sequence[Detections], candidate: Sequence[Detections], score_threshold: float = 0.5,
            match_iou: float = 0.5, max_detections: int | None = None) -> Parity:
    """How well `candidate` reproduces each image's reference detections with score >= threshold.

    With `max_detections` (what the candidate outputs per image, the TFLite model's
    --max_detections), an image with more such reference detections counts `max_detections`
    places, each filled by a candidate detection the reference also makes (see _crowded): a
    candidate can hold no more, so a crowded image does not count the rest as lost.
    """
    ious: list[float] = []
    deltas: list[float] = []
    for ref, cand in zip(reference, candidate, strict=True):
        ref = above(ref, score_threshold)
        if max_detections is None or len(ref.scores) <= max_detections:
            results = _match(ref, cand, match_iou)
        else:
            results = _crowded(ref, cand, score_threshold, match_iou, max_detections)
        for overlap, delta in results:
            ious.append(overlap)
            if delta is not None:
                deltas.append(delta)
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
