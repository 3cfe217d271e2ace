"""The demo dataset: seeded synthetic shapes (circle, square, triangle) on varied backgrounds.

Written as COCO JSON + JPEG images and converted by the same converter users run, so the demo
detector trains on exactly what create_tf_record produces. Objects are bright, 24-96 px, 1-4
per image and never overlap: learnable in minutes on a CPU, with enough variety (rotation,
colour, background texture) that the detector must learn shapes, not colours.
"""

from __future__ import annotations

import colorsys
import dataclasses
import json
import math
import os
from typing import IO

import numpy as np
from PIL import Image, ImageDraw

from od_tools.datasets.create import CreateRequest, create_tf_records
from od_tools.datasets.checks.dataset_report import Report

CLASSES = ("circle", "square", "triangle")
SUPERSAMPLE = 2      # shapes are drawn at twice the size and reduced: smooth edges
JPEG_QUALITY = 90


@dataclasses.dataclass(frozen=True)
class DemoSpec:
    num_train: int = 600
    num_val: int = 100
    image_size: int = 256
    seed: int = 0
    min_objects: int = 1
    max_objects: int = 4
    min_object_size: int = 24
    max_object_size: int = 96
    num_train_shards: int = 2
    num_val_shards: int = 1


@dataclasses.dataclass(frozen=True)
class Shape:
    class_id: int               # 1-based index into CLASSES
    bbox: tuple[float, float, float, float]  # x, y, width, height in pixels
    area: float
    outline: tuple[float, ...] = ()          # polygon x0, y0, x1, y1, ... in pixels


def _colour(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value)) * 255.0


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A muted (desaturated, mid-dark) background: gradient, noise, stripes or blotches."""
    def muted() -> np.ndarray:
        return _colour(rng.random(), rng.uniform(0.0, 0.35), rng.uniform(0.15, 0.6))

    kind = rng.integers(4)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == 0:  # linear gradient at a random angle
        angle = rng.uniform(0, 2 * math.pi)
        t = (xs * math.cos(angle) + ys * math.sin(angle))
        t = (t - t.min()) / max(1e-6, t.max() - t.min())
        image = muted() * (1 - t[..., None]) + muted() * t[..., None]
    elif kind == 1:  # flat colour with strong noise
        image = np.broadcast_to(muted(), (size, size, 3)) + rng.normal(0, rng.uniform(8, 25), (size, size, 3))
    elif kind == 2:  # stripes or checks of two close colours
        period = rng.uniform(8, 32)
        a, b = muted(), muted()
        phase = np.floor(xs * size / period) + (np.floor(ys * size / period) if rng.random() < 0.5 else 0)
        image = np.where((phase % 2 == 0)[..., None], a, b)
    else:  # smooth blotches: a coarse grid of colours near one muted colour, upsampled
        cells = int(rng.integers(3, 9))
        grid = muted() + rng.uniform(-45, 45, (cells, cells, 3))
        grid = np.clip(grid, 0, 255).astype(np.uint8)
        image = np.asarray(Image.fromarray(grid).resize((size, size), Image.BICUBIC), np.float32)
    image = image + rng.normal(0, rng.uniform(2, 6), (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def _polygon_area(points: list[tuple[float, float]]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]))) / 2


def _outline(class_id: int, rng: np.random.Generator, x: float, y: float, extent: float):
    """(drawable outline, area): a shape centred in the square (x, y, extent)."""
    cx, cy, radius = x + extent / 2, y + extent / 2, extent / 2
    name = CLASSES[class_id - 1]
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


ELLIPSE_POINTS = 32  # a circle's outline as a polygon, for COCO segmentation


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


def render(spec: DemoSpec, rng: np.random.Generator) -> tuple[Image.Image, list[Shape]]:
    """One image and its shapes: seeded, so the same generator state gives the same pixels."""
    size = spec.image_size
    canvas = Image.fromarray(background(rng, size)).resize((size * SUPERSAMPLE,) * 2, Image.NEAREST)
    draw = ImageDraw.Draw(canvas)
    shapes: list[Shape] = []
    wanted = int(rng.integers(spec.min_objects, spec.max_objects + 1))
    for _ in range(100):
        if len(shapes) == wanted:
            break
        extent = float(rng.integers(spec.min_object_size, spec.max_object_size + 1))
        x, y = rng.uniform(1, size - extent - 1, 2)
        class_id = int(rng.integers(1, len(CLASSES) + 1))
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


def write_coco_split(spec: DemoSpec, split: str, count: int, coco_dir: str, with_segmentation: bool = False) -> str:
    """Renders `count` images of `split` into coco/images/<split>/ and writes coco/<split>.json
    (with each shape's outline as its polygon `segmentation` when asked: the demo's own dataset
    has none, so its files keep their bytes)."""
    image_dir = os.path.join(coco_dir, "images", split)
    os.makedirs(image_dir, exist_ok=True)
    images, annotations = [], []
    split_key = 0 if split == "train" else 1
    for index in range(count):
        rng = np.random.default_rng([spec.seed, split_key, index])
        image, shapes = render(spec, rng)
        file_name = f"{split}/{index:06d}.jpg"
        image.save(os.path.join(coco_dir, "images", file_name), "JPEG", quality=JPEG_QUALITY)
        images.append({"id": index + 1, "file_name": file_name, "width": spec.image_size, "height": spec.image_size})
        for shape in shapes:
            annotation = {"id": len(annotations) + 1, "image_id": index + 1, "category_id": shape.class_id,
                          "bbox": [round(v, 3) for v in shape.bbox], "area": round(shape.area, 3), "iscrowd": 0}
            if with_segmentation:
                annotation["segmentation"] = [[round(v, 2) for v in shape.outline]]
            annotations.append(annotation)
    document = {
        "info": {"description": f"od_toolchain demo shapes, {split}, seed {spec.seed}"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": name, "supercategory": "shape"} for i, name in enumerate(CLASSES)],
    }
    path = os.path.join(coco_dir, f"{split}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1)
        f.write("\n")
    return path


def build_demo_dataset(output_dir: str, spec: DemoSpec = DemoSpec(), num_workers: int = 0,
                       out: IO[str] | None = None) -> Report:
    """COCO export under output_dir/coco, then the converter's TFRecords, label maps and report."""
    coco_dir = os.path.join(output_dir, "coco")
    train_json = write_coco_split(spec, "train", spec.num_train, coco_dir)
    val_json = write_coco_split(spec, "val", spec.num_val, coco_dir)
    return create_tf_records(CreateRequest(
        input_format="coco",
        annotations=train_json,
        val_annotations=val_json,
        image_dir=os.path.join(coco_dir, "images"),
        output_path=os.path.join(output_dir, "train.tfrecord"),
        val_output_path=os.path.join(output_dir, "val.tfrecord"),
        num_shards=spec.num_train_shards,
        num_val_shards=spec.num_val_shards,
        seed=spec.seed,
        strict=True,  # the generator must produce data that needs no fixing
        num_workers=num_workers,
        report_path=os.path.join(output_dir, "report.json"),
    ), out=out)
