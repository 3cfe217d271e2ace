"""Detections drawn on their image, for people to look at (PNG files and TensorBoard)."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from PIL import Image, ImageColor, ImageDraw

from od_tools.evaluation.coco import GroundTruth
from od_tools.modeling import Detections

_PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45",
            "#fabed4", "#469990", "#dcbeff", "#9a6324", "#800000", "#aaffc3", "#808000", "#000075")


@dataclasses.dataclass(frozen=True)
class RenderOptions:
    """What to draw; defaults follow the OD API's eval_config."""

    min_score: float = 0.5
    max_boxes: int = 20
    show_scores: bool = True
    show_labels: bool = True
    groundtruth: bool = False
    groundtruth_color: str = "black"
    line_thickness: int = 0  # pixels; 0: by image size
    mask_alpha: float = 0.45  # how strongly instance masks tint their pixels


def class_color(class_id: int) -> str:
    return _PALETTE[(class_id - 1) % len(_PALETTE)]


def _pixels(box: np.ndarray, width: int, height: int) -> list[float]:
    ymin, xmin, ymax, xmax = (float(v) for v in box)
    return [xmin * width, ymin * height, xmax * width - 1, ymax * height - 1]


def draw_detections(image: np.ndarray, detections: Detections, labels: dict[int, str],
                    options: RenderOptions = RenderOptions(), groundtruth: GroundTruth | None = None) -> np.ndarray:
    """A copy of `image` (uint8 HxWx3) with boxes, labels and scores drawn on it."""
    canvas = Image.fromarray(np.asarray(image, np.uint8)).convert("RGB")
    width, height = canvas.size
    order = np.argsort(-np.asarray(detections.scores), kind="stable")
    shown = [i for i in order if detections.scores[i] >= options.min_score][:options.max_boxes]
    if detections.masks is not None and shown:
        canvas = _tint_masks(canvas, detections.select(np.array(shown, np.int64)), options.mask_alpha)
    draw = ImageDraw.Draw(canvas)
    thickness = options.line_thickness or max(1, round(min(width, height) / 200))
    if options.groundtruth and groundtruth is not None:
        try:
            gt_color = ImageColor.getrgb(options.groundtruth_color)
        except ValueError:
            gt_color = (0, 0, 0)
        for box in groundtruth.boxes:
            draw.rectangle(_pixels(box, width, height), outline=gt_color, width=thickness)
    for i in shown:
        class_id = int(detections.classes[i])
        color = class_color(class_id)
        left, top, right, bottom = _pixels(detections.boxes[i], width, height)
        draw.rectangle([left, top, right, bottom], outline=color, width=thickness)
        parts = []
        if options.show_labels:
            parts.append(labels.get(class_id, str(class_id)))
        if options.show_scores:
            parts.append(f"{detections.scores[i]:.0%}")
        if parts:
            text = " ".join(parts)
            text_box = draw.textbbox((0, 0), text)
            text_width, text_height = text_box[2] - text_box[0] + 4, text_box[3] - text_box[1] + 2
            x = max(0.0, min(left, width - text_width))  # keep the label inside the image
            y = top - text_height if top - text_height >= 0 else top
            draw.rectangle([x, y, x + text_width, y + text_height], fill=color)
            draw.text((x + 2, y), text, fill="white")
    return np.asarray(canvas)


def _tint_masks(canvas: Image.Image, detections: Detections, alpha: float) -> Image.Image:
    """The picture with each instance mask tinted in its class colour."""
    pixels = np.asarray(canvas, np.float32).copy()
    masks = detections.image_masks(canvas.height, canvas.width)
    for mask, class_id in zip(masks, detections.classes):
        color = np.array(ImageColor.getrgb(class_color(int(class_id))), np.float32)
        pixels[mask] = (1 - alpha) * pixels[mask] + alpha * color
    return Image.fromarray(np.clip(np.round(pixels), 0, 255).astype(np.uint8))


def side_by_side(panels: Sequence[tuple[np.ndarray, str]], caption: str = "") -> np.ndarray:
    """Pictures next to each other, each titled, with an optional caption line below them."""
    gap, band = 8, 18
    height = max(p.shape[0] for p, _ in panels)
    width = sum(p.shape[1] for p, _ in panels) + gap * (len(panels) - 1)
    lines = [line for line in caption.splitlines() if line]
    canvas = Image.new("RGB", (width, band + height + band * len(lines)), "white")
    draw = ImageDraw.Draw(canvas)
    x = 0
    for pixels, title in panels:
        canvas.paste(Image.fromarray(np.asarray(pixels, np.uint8)), (x, band))
        draw.text((x + 2, 3), title, fill="black")
        x += pixels.shape[1] + gap
    for k, line in enumerate(lines):
        draw.text((2, band + height + 3 + band * k), line, fill="black")
    return np.asarray(canvas)
