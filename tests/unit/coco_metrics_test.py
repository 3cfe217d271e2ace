"""COCO metrics against answers worked out by hand from pycocotools' definitions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from od_tools.evaluation import GroundTruth, RenderOptions, coco_metrics, draw_detections
from od_tools.evaluation.charts import write_per_class_chart
from od_tools.evaluation.coco import NO_GROUNDTRUTH, Accuracy, accuracy
from od_tools.modeling import Detections

CATEGORIES = {1: "circle", 2: "square"}


def gt(image_id: int, boxes, classes, size=(200, 100)) -> GroundTruth:
    return GroundTruth(image_id, size[0], size[1], np.array(boxes, np.float32), np.array(classes))


def det(boxes, classes, scores) -> Detections:
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.array(classes), np.array(scores, np.float32))


# Two images of 200x100 (height x width) with medium-sized objects (area between 32^2 and 96^2).
GROUNDTRUTH = [gt(1, [[0.1, 0.1, 0.4, 0.6]], [1]), gt(2, [[0.5, 0.2, 0.8, 0.7], [0.1, 0.1, 0.3, 0.5]], [2, 1])]


def test_perfect_detections_score_one():
    detections = [det(g.boxes, g.classes, [0.9] * len(g.classes)) for g in GROUNDTRUTH]
    metrics = coco_metrics(GROUNDTRUTH, detections, CATEGORIES, per_category=True)
    for name in ("AP", "AP50", "AP75", "APm", "AR@1", "AR@10", "AR@100"):
        assert metrics[name] == pytest.approx(1.0), name
    # No small or large objects: pycocotools reports -1.
    assert metrics["APs"] == -1 and metrics["APl"] == -1
    assert metrics["per_category_AP"] == {"circle": pytest.approx(1.0), "square": pytest.approx(1.0)}


def shifted(boxes: np.ndarray, iou: float) -> np.ndarray:
    """Boxes moved right until their IoU with the originals is `iou`.

    Two equal boxes of width w offset by d overlap (w - d) * h: IoU = (w - d) / (w + d).
    """
    out = boxes.copy()
    width = boxes[:, 3] - boxes[:, 1]
    offset = width * (1 - iou) / (1 + iou)
    out[:, 1] += offset
    out[:, 3] += offset
    return out


def test_shifted_boxes_lose_the_strict_thresholds():
    # IoU 0.62 passes the COCO thresholds 0.50, 0.55, 0.60 only: AP = 3/10, AP50 = 1, AP75 = 0.
    detections = [det(shifted(g.boxes, 0.62), g.classes, [0.9] * len(g.classes)) for g in GROUNDTRUTH]
    metrics = coco_metrics(GROUNDTRUTH, detections, CATEGORIES)
    assert metrics["AP50"] == pytest.approx(1.0)
    assert metrics["AP75"] == pytest.approx(0.0)
    assert metrics["AP"] == pytest.approx(0.3)


def test_a_missed_object_halves_recall():
    # Image 2's circle is missed: circle recall reaches 1/2 at precision 1. pycocotools averages
    # precision at 101 recall points, 51 of which (0.00..0.50) are reached: AP(circle) = 51/101.
    detections = [det(GROUNDTRUTH[0].boxes, [1], [0.9]), det(GROUNDTRUTH[1].boxes[:1], [2], [0.8])]
    metrics = coco_metrics(GROUNDTRUTH, detections, CATEGORIES, per_category=True)
    assert metrics["per_category_AP"]["circle"] == pytest.approx(51 / 101)
    assert metrics["per_category_AP"]["square"] == pytest.approx(1.0)
    assert metrics["AP"] == pytest.approx((51 / 101 + 1) / 2)
    assert metrics["AR@100"] == pytest.approx(0.75)


def test_wrong_classes_and_no_detections_score_zero():
    wrong = [det(g.boxes, 3 - g.classes, [0.9] * len(g.classes)) for g in GROUNDTRUTH]
    assert coco_metrics(GROUNDTRUTH, wrong, CATEGORIES)["AP"] == 0.0
    assert coco_metrics(GROUNDTRUTH, [det([], [], [])] * 2, CATEGORIES)["AP50"] == 0.0
    with pytest.raises(ValueError, match="1 detections for 2 images"):
        coco_metrics(GROUNDTRUTH, wrong[:1], CATEGORIES)


def test_a_low_scoring_false_positive_ranks_last():
    # A false positive scored below the true one leaves precision 1 up to full recall.
    detections = [det([[0.1, 0.1, 0.4, 0.6], [0.6, 0.6, 0.9, 0.9]], [1, 1], [0.9, 0.1]),
                  det(GROUNDTRUTH[1].boxes, GROUNDTRUTH[1].classes, [0.9, 0.9])]
    assert coco_metrics(GROUNDTRUTH, detections, CATEGORIES)["AP"] == pytest.approx(1.0)


def test_drawn_boxes_appear_in_the_class_color():
    image = np.zeros((100, 100, 3), np.uint8)
    found = det([[0.2, 0.2, 0.6, 0.7], [0.0, 0.0, 0.1, 0.1]], [2, 1], [0.9, 0.2])
    drawn = draw_detections(image, found, CATEGORIES, RenderOptions(min_score=0.5))
    assert drawn.shape == image.shape and not image.any()  # the input is left alone
    assert tuple(drawn[40, 20]) == (0x3C, 0xB4, 0x4B)  # left edge of the square, class 2's color
    assert not drawn[95, 95].any()  # outside every box
    assert not drawn[0, 5].any()  # the top edge of the box scored below min_score: not drawn


def test_accuracy_gives_ap_and_ap50_per_class():
    # The circle of image 2 is found at IoU 0.62: it counts at AP50 but at 3 of COCO's 10 IoU
    # thresholds, and the square is exact.
    detections = [det(GROUNDTRUTH[0].boxes, [1], [0.9]),
                  det(np.concatenate([GROUNDTRUTH[1].boxes[:1], shifted(GROUNDTRUTH[1].boxes[1:], 0.62)]), [2, 1],
                      [0.9, 0.9])]
    result = accuracy(GROUNDTRUTH, detections, {**CATEGORIES, 3: "triangle"})
    assert result.per_class_ap50 == {"circle": 1.0, "square": 1.0, "triangle": NO_GROUNDTRUTH}
    assert result.per_class_ap["square"] == 1.0 and 0.3 < result.per_class_ap["circle"] < 1.0
    assert result.measured_classes() == ["circle", "square"]
    assert result.ap50 == 1.0 and result.ap == round((result.per_class_ap["circle"] + 1.0) / 2, 4)
    assert Accuracy.from_json(result.to_json()) == result


def test_no_detections_at_all_give_zero_per_class_and_none_where_nothing_was_there():
    result = accuracy(GROUNDTRUTH, [det([], [], [])] * 2, {**CATEGORIES, 3: "triangle"})
    assert result.per_class_ap50 == {"circle": 0.0, "square": 0.0, "triangle": NO_GROUNDTRUTH}


def test_the_per_class_chart_is_a_picture_with_a_bar_per_model_and_class(tmp_path):
    from PIL import Image

    good = accuracy(GROUNDTRUTH, [det(g.boxes, g.classes, [0.9] * len(g.classes)) for g in GROUNDTRUTH], CATEGORIES)
    poor = dataclasses.replace(good, per_class_ap50={"circle": 0.5, "square": 0.0})
    path = write_per_class_chart({"saved_model": good, "int8": poor}, str(tmp_path / "chart.png"), "title")
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert image.shape[1] >= 600
    # matplotlib's first two colours: blue bars for the first model, orange for the second;
    # the second model's square (0.0) has no bar, so there is less orange than blue.
    blue = np.all(np.abs(image - (31, 119, 180)) < 12, axis=-1).sum()
    orange = np.all(np.abs(image - (255, 127, 14)) < 12, axis=-1).sum()
    assert blue > 2 * orange > 0
    assert [p.name for p in tmp_path.iterdir()] == ["chart.png"]  # no temporary left


def test_mask_ap_scores_the_box_masks_placed_on_the_image():
    from od_tools.evaluation.coco import mask_metrics

    truth = np.zeros((1, 40, 40), np.uint8)
    truth[0, 10:30, 10:30] = 1
    groundtruth = [GroundTruth(image_id=1, height=40, width=40, boxes=np.array([[0.25, 0.25, 0.75, 0.75]]),
                               classes=np.array([1]), masks=truth)]
    box = np.array([[0.25, 0.25, 0.75, 0.75]], np.float32)
    full = Detections(box, np.array([1]), np.array([0.9], np.float32), masks=np.ones((1, 8, 8), np.float32))
    assert mask_metrics(groundtruth, [full], {1: "a"})["mask_AP"] == pytest.approx(1.0)
    half = np.ones((1, 8, 8), np.float32)
    half[0, :, 4:] = 0.0  # the left half of the object: mask IoU 0.5
    metrics = mask_metrics(groundtruth, [Detections(box, np.array([1]), np.array([0.9], np.float32), masks=half)],
                           {1: "a"})
    assert metrics["mask_AP50"] == pytest.approx(1.0) and metrics["mask_AP"] < 0.2
    assert set(metrics) >= {"mask_AP", "mask_AP50", "mask_AP75", "mask_AR@100"} and "AP" not in metrics
