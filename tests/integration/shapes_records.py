"""Tiny TFRecords of coloured shapes for training tests, written with od_tools' own encoder.

Big, high-contrast shapes on dark noise: a tiny detector learns them within a few steps, which
the demo dataset's varied backgrounds would not allow at 64x64.
"""

from __future__ import annotations

import hashlib
import io
import os
from typing import Sequence

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

from od_tools.datasets.annotations.geometry import Box
from od_tools.datasets.annotations.masks import encode_png
from od_tools.datasets.annotations.image_record import ExampleData, ObjectData
from od_tools.datasets.annotations.tf_example import serialize_example
from od_tools.datasets.writing.writer import shard_name
from od_tools.label_map import LabelMap, write_label_map

NAMES = ("circle", "square")


def _example(rng: np.random.Generator, size: int, name: str, names: Sequence[str], with_masks: bool) -> bytes:
    image = Image.fromarray(rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8))
    class_id = int(rng.integers(1, len(names) + 1))
    side = int(rng.integers(size // 3, size // 2))
    x, y = (int(v) for v in rng.integers(0, size - side, 2))
    corners = [x, y, x + side - 1, y + side - 1]
    shape = ImageDraw.Draw(image).ellipse if class_id == 1 else ImageDraw.Draw(image).rectangle
    shape(corners, fill=(230, 200, 40) if class_id == 1 else (40, 200, 230))
    mask_png = None
    if with_masks:  # the shape's own pixels, drawn the same way
        silhouette = Image.new("L", (size, size), 0)
        (ImageDraw.Draw(silhouette).ellipse if class_id == 1 else ImageDraw.Draw(silhouette).rectangle)(corners, fill=1)
        mask_png = encode_png(np.asarray(silhouette))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    encoded = buffer.getvalue()
    box = Box(x / size, y / size, (x + side) / size, (y + side) / size)
    return serialize_example(ExampleData(
        encoded=encoded, size_bytes=len(encoded), image_format="png", width=size, height=size, filename=name,
        source_id=name, sha256=hashlib.sha256(encoded).hexdigest(),
        objects=(ObjectData(box, class_id, names[class_id - 1], False, float(side * side), False, mask_png),),
        with_masks=with_masks))


def write_shapes(folder: str, num_train: int = 32, num_val: int = 8, size: int = 64, seed: int = 0,
                 names: Sequence[str] = NAMES, with_masks: bool = False) -> str:
    """Writes train (2 shards), val (1 shard) and label_map.pbtxt into `folder`; returns it.

    `names` are the classes, a prefix of NAMES (circle, then square); `with_masks` adds each
    shape's instance mask (image/object/mask, a PNG), for Mask R-CNN."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for split, count, shards in (("train", num_train, 2), ("val", num_val, 1)):
        writers = [tf.io.TFRecordWriter(os.path.join(folder, shard_name(f"{split}.tfrecord", k, shards)))
                   for k in range(shards)]
        for i in range(count):
            writers[i % shards].write(_example(rng, size, f"{split}_{i:04d}.png", names, with_masks))
        for writer in writers:
            writer.close()
    write_label_map(LabelMap.from_names(names), os.path.join(folder, "label_map.pbtxt"))
    return folder
