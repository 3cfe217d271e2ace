"""Tiny TFRecords of shapes for training tests, drawn by od_tools' one synthetic-picture generator
and written with od_tools' own encoder.

One big bright shape per picture on dark noise: a tiny detector learns it within a few steps,
which the demo dataset's muted backgrounds and smaller shapes would not allow at 64x64.
"""

from __future__ import annotations

import hashlib
import io
import os
from typing import Sequence

import numpy as np
import tensorflow as tf

from od_tools.common import synthetic
from od_tools.datasets.annotations.geometry import Box
from od_tools.datasets.annotations.masks import encode_png
from od_tools.datasets.annotations.image_record import ExampleData, ObjectData
from od_tools.datasets.annotations.tf_example import serialize_example
from od_tools.datasets.writing.writer import shard_name
from od_tools.label_map import LabelMap, write_label_map

NAMES = synthetic.SHAPES[:2]  # circle, square


def _example(rng: np.random.Generator, size: int, name: str, names: Sequence[str], with_masks: bool) -> bytes:
    layout = synthetic.Layout(num_classes=len(names), min_objects=1, max_objects=1,
                              min_object_size=size // 3, max_object_size=size // 2)
    picture, (shape,) = synthetic.render(rng, size, size, layout, background=synthetic.dark_noise)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    encoded = buffer.getvalue()
    x, y, width, height = shape.bbox
    box = Box(x / size, y / size, (x + width) / size, (y + height) / size)
    mask_png = encode_png(synthetic.mask(shape, size, size)) if with_masks else None
    return serialize_example(ExampleData(
        encoded=encoded, size_bytes=len(encoded), image_format="png", width=size, height=size, filename=name,
        source_id=name, sha256=hashlib.sha256(encoded).hexdigest(),
        objects=(ObjectData(box, shape.class_id, names[shape.class_id - 1], False, shape.area, False, mask_png),),
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
