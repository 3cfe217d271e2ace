"""The demo dataset: seeded synthetic shapes (circle, square, triangle) on varied backgrounds.

Written as COCO JSON + JPEG images and converted by the same converter users run, so the demo
detector trains on exactly what create_tf_record produces. Objects are bright, 24-96 px, 1-4
per image and never overlap: learnable in minutes on a CPU, with enough variety (rotation,
colour, background texture) that the detector must learn shapes, not colours.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import IO

import numpy as np

from od_tools.common import synthetic
from od_tools.datasets.create import CreateRequest, create_tf_records
from od_tools.datasets.checks.dataset_report import Report

CLASSES = synthetic.SHAPES
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

    @property
    def layout(self) -> synthetic.Layout:
        return synthetic.Layout(len(CLASSES), self.min_objects, self.max_objects,
                                self.min_object_size, self.max_object_size)


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
        image, shapes = synthetic.render(rng, spec.image_size, spec.image_size, spec.layout)
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
