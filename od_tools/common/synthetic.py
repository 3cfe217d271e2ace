"""Seeded synthetic pictures: bright shapes (circle, square, triangle) on textured backgrounds.

The one generator behind every picture the project makes up: the demo dataset, the export's
calibration and agreement images, and the tests' tiny shape records and annotation fixtures.
Seeded through the caller's numpy Generator, so the same generator state gives the same pixels
(the demo's images, and so its detector's sha256, depend on it).
"""

from __future__ import annotations

import colorsys
import dataclasses
import math
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
SUPERSAMPLE = 2      # shapes are drawn at twice the size and reduced: smooth edges
ELLIPSE_POINTS = 32  # a circle's outline as a polygon, for COCO segmentation and masks

Background = Callable[[np.random.Generator, int, int], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Layout:
    """What goes on a picture: 1-based class ids index SHAPES[:num_classes]."""

    num_classes: int = len(SHAPES)
    min_objects: int = 1
    max_objects: int = 4
    min_object_size: int = 24
    max_object_size: int = 96


@dataclasses.dataclass(frozen=True)
class Shape:
    class_id: int               # 1-based index into SHAPES
    bbox: tuple[float, float, float, float]  # x, y, width, height in pixels
    area: float
    outline: tuple[float, ...] = ()          # polygon x0, y0, x1, y1, ... in pixels


def _colour(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value)) * 255.0


def muted_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A muted (desaturated, mid-dark) background: gradient, noise, stripes or blotches."""
    def muted() -> np.ndarray:
        return _colour(rng.random(), rng.uniform(0.0, 0.35), rng.uniform(0.15, 0.6))

    kind = rng.integers(4)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ys, xs = ys / height, xs / width
    if kind == 0:  # linear gradient at a random angle
        angle = rng.uniform(0, 2 * math.pi)
        t = (xs * math.cos(angle) + ys * math.sin(angle))
        t = (t - t.min()) / max(1e-6, t.max() - t.min())
        image = muted() * (1 - t[..., None]) + muted() * t[..., None]
    elif kind == 1:  # flat colour with strong noise
        image = np.broadcast_to(muted(), (height, width, 3)) + rng.normal(0, rng.uniform(8, 25), (height, width, 3))
    elif kind == 2:  # stripes or checks of two close colours
        period = rng.uniform(8, 32)
        a, b = muted(), muted()
        phase = np.floor(xs * width / period) + (np.floor(ys * height / period) if rng.random() < 0.5 else 0)
        image = np.where((phase % 2 == 0)[..., None], a, b)
    else:  # smooth blotches: a coarse grid of colours near one muted colour, upsampled
        cells = int(rng.integers(3, 9))
        grid = muted() + rng.uniform(-45, 45, (cells, cells, 3))
        grid = np.clip(grid, 0, 255).astype(np.uint8)
        image = np.asarray(Image.fromarray(grid).resize((width, height), Image.BICUBIC), np.float32)
    image = image + rng.normal(0, rng.uniform(2, 6), (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def dark_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Dark uniform noise: the highest contrast for bright shapes, which a tiny detector learns
    within a few steps at 64x64 (the muted backgrounds need a real training run)."""
    return rng.integers(0, 60, size=(height, width, 3), dtype=np.uint8)


def _polygon_area(points: list[tuple[float, float]]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]))) / 2


def _outline(class_id: int, rng: np.random.Generator, x: float, y: float, extent: float):
    """(drawable outline, area): a shape centred in the square (x, y, extent)."""
    cx, cy, radius = x + extent / 2, y + extent / 2, extent / 2
    name = SHAPES[class_id - 1]
    if name == "circle":
        return ("ellipse", [cx - radius, cy - radius, cx + radius, cy + radius]), math.pi * radius ** 2
    if name == "square":
        angle = rng.uniform(0, math.pi / 4)
        half = radius / (abs(math.cos(angle)) + abs(math.sin(angle)))  # the rotated square fills the extent
        corners = [(-half, -half), (half, -half), (half, half), (-half, half)]
        points = [(cx + px * math.cos(angle) - py * math.sin(angle), cy + px * math.sin(angle) + py * math.cos(angle))
                  for px, py in corners]
        return ("polygon", points), (2 * half) ** 2
    angle = rng.uniform(0, 2 * math.pi)
    points = [(cx + radius * math.cos(angle + k * 2 * math.pi / 3), cy + radius * math.sin(angle + k * 2 * math.pi / 3))
              for k in range(3)]
    return ("polygon", points), _polygon_area(points)


def _outline_points(outline) -> tuple[float, ...]:
    """The outline as a COCO polygon ring `(x0, y0, x1, y1, ...)` in pixels."""
    kind, geometry = outline
    if kind == "ellipse":
        x0, y0, x1, y1 = geometry
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
        geometry = [(cx + rx * math.cos(2 * math.pi * k / ELLIPSE_POINTS),
                     cy + ry * math.sin(2 * math.pi * k / ELLIPSE_POINTS)) for k in range(ELLIPSE_POINTS)]
    return tuple(v for point in geometry for v in point)


def _bounds(outline) -> tuple[float, float, float, float]:
    kind, geometry = outline
    if kind == "ellipse":
        x0, y0, x1, y1 = geometry
    else:
        xs, ys = [p[0] for p in geometry], [p[1] for p in geometry]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
    return x0, y0, x1 - x0, y1 - y0


def _overlaps(a: tuple[float, ...], b: tuple[float, ...], gap: float = 3.0) -> bool:
    return not (a[0] + a[2] + gap <= b[0] or b[0] + b[2] + gap <= a[0] or
                a[1] + a[3] + gap <= b[1] or b[1] + b[3] + gap <= a[1])


def render(rng: np.random.Generator, height: int, width: int, layout: Layout = Layout(),
           background: Background = muted_background) -> tuple[Image.Image, list[Shape]]:
    """One picture and its shapes, which never overlap (up to 100 tries to place them all)."""
    canvas = Image.fromarray(background(rng, height, width)).resize(
        (width * SUPERSAMPLE, height * SUPERSAMPLE), Image.NEAREST)
    draw = ImageDraw.Draw(canvas)
    shapes: list[Shape] = []
    wanted = int(rng.integers(layout.min_objects, layout.max_objects + 1))
    for _ in range(100):
        if len(shapes) == wanted:
            break
        extent = float(rng.integers(layout.min_object_size, layout.max_object_size + 1))
        x, y = rng.uniform(1, [width - extent - 1, height - extent - 1])
        class_id = int(rng.integers(1, layout.num_classes + 1))
        outline, area = _outline(class_id, rng, float(x), float(y), extent)
        bbox = _bounds(outline)
        if any(_overlaps(bbox, other.bbox) for other in shapes):
            continue
        fill = tuple(int(v) for v in _colour(rng.random(), rng.uniform(0.65, 1.0), rng.uniform(0.8, 1.0)))
        edge = tuple(int(v * 0.55) for v in fill)
        kind, geometry = outline
        scaled = ([v * SUPERSAMPLE for v in geometry] if kind == "ellipse"
                  else [(px * SUPERSAMPLE, py * SUPERSAMPLE) for px, py in geometry])
        getattr(draw, kind)(scaled, fill=fill, outline=edge, width=SUPERSAMPLE * int(rng.integers(0, 3)))
        shapes.append(Shape(class_id, bbox, area, _outline_points(outline)))
    return canvas.reduce(SUPERSAMPLE), shapes


def mask(shape: Shape, height: int, width: int) -> np.ndarray:
    """The shape's instance mask (uint8 0/1, [height, width]), filled from its outline."""
    silhouette = Image.new("L", (width, height), 0)
    points = shape.outline
    ImageDraw.Draw(silhouette).polygon(list(zip(points[0::2], points[1::2])), fill=1)
    return np.asarray(silhouette)


def pictures(count: int, height: int, width: int, seed: int = 0) -> list[np.ndarray]:
    """`count` seeded uint8 [H, W, 3] pictures with shapes sized to the picture: something for any
    detector to fire on (calibration, agreement checks), whatever classes it was trained for."""
    short = min(height, width)
    if short < 8:  # no room for a shape: the background alone
        layout = Layout(min_objects=0, max_objects=0)
    else:
        layout = Layout(min_object_size=max(4, short // 10), max_object_size=max(6, short * 3 // 8))
    return [np.asarray(render(np.random.default_rng([seed, index]), height, width, layout)[0])
            for index in range(count)]
