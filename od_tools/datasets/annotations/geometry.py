"""Pure box math: corners, pixel <-> normalized coordinates, clipping and validity tests.

Boxes are `(xmin, ymin, xmax, ymax)` corners. Pixel boxes use the continuous pixel grid of the
image (0 .. width), which is what COCO, Pascal VOC, VoTT and the Object Detection API's own
converters divide by; normalized boxes divide that by the image size, so the image is [0, 1]².
"""

from __future__ import annotations

import dataclasses
import math

# Normalized coordinates this close outside [0, 1] are float rounding, not annotation errors.
ROUNDING_TOLERANCE = 1e-6

# A box that reaches past the image edge by more than this fraction of the image size is not an
# edge-touching annotation to clip but a box in the wrong units or for another image.
FAR_OUTSIDE_MARGIN = 0.5


@dataclasses.dataclass(frozen=True)
class Box:
    xmin: float
    ymin: float
    xmax: float
    ymax: float

    @property
    def width(self) -> float:
        return self.xmax - self.xmin

    @property
    def height(self) -> float:
        return self.ymax - self.ymin

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.xmin, self.ymin, self.xmax, self.ymax)

    def __str__(self) -> str:
        return "(" + ", ".join(f"{v:g}" for v in self.as_tuple()) + ")"


def from_xywh(x: float, y: float, width: float, height: float) -> Box:
    """COCO's and VoTT's `[left, top, width, height]` as corners."""
    return Box(x, y, x + width, y + height)


def normalize(box: Box, image_width: int, image_height: int) -> Box:
    """Pixel corners -> fractions of the image size."""
    return Box(box.xmin / image_width, box.ymin / image_height, box.xmax / image_width, box.ymax / image_height)


def denormalize(box: Box, image_width: int, image_height: int) -> Box:
    """Fractions of the image size -> pixel corners."""
    return Box(box.xmin * image_width, box.ymin * image_height, box.xmax * image_width, box.ymax * image_height)


def clip_unit(box: Box) -> Box:
    """The part of a normalized box that lies inside the image: every coordinate in [0, 1]."""
    return Box(*(min(1.0, max(0.0, v)) for v in box.as_tuple()))


def is_finite(box: Box) -> bool:
    return all(math.isfinite(v) for v in box.as_tuple())


def is_inverted(box: Box) -> bool:
    """A minimum above its maximum: corners swapped, or a negative width or height."""
    return box.xmin > box.xmax or box.ymin > box.ymax


def overlaps_unit(box: Box) -> bool:
    """Whether a normalized box covers any part of the image (touching an edge is not enough)."""
    return box.xmin < 1.0 and box.xmax > 0.0 and box.ymin < 1.0 and box.ymax > 0.0


def inside_unit(box: Box, tolerance: float = ROUNDING_TOLERANCE) -> bool:
    """Whether a normalized box lies within the image, allowing float rounding at the edges."""
    return all(-tolerance <= v <= 1.0 + tolerance for v in box.as_tuple())


def far_outside_unit(box: Box, margin: float = FAR_OUTSIDE_MARGIN) -> bool:
    """Whether a normalized box reaches past the image by more than `margin` of its size."""
    return any(v < -margin or v > 1.0 + margin for v in box.as_tuple())


def pixel_size(box: Box, image_width: int, image_height: int) -> tuple[float, float]:
    """Width and height in pixels of a normalized box."""
    return box.width * image_width, box.height * image_height
