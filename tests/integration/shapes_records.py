"""Tiny TFRecords of coloured shapes for training tests (OD API tf.Example keys, seeded)."""

from __future__ import annotations

import hashlib
import io
import os

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

NAMES = ("circle", "square")


def _example(image: Image.Image, objects: list[tuple[int, float, float, float, float]], name: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    width, height = image.size

    def floats(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    def strings(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    features = {
        "image/encoded": strings([data]), "image/format": strings([b"png"]),
        "image/height": ints([height]), "image/width": ints([width]),
        "image/filename": strings([name.encode()]), "image/source_id": strings([name.encode()]),
        "image/key/sha256": strings([hashlib.sha256(data).hexdigest().encode()]),
        "image/object/bbox/ymin": floats([o[1] for o in objects]),
        "image/object/bbox/xmin": floats([o[2] for o in objects]),
        "image/object/bbox/ymax": floats([o[3] for o in objects]),
        "image/object/bbox/xmax": floats([o[4] for o in objects]),
        "image/object/class/text": strings([NAMES[o[0] - 1].encode() for o in objects]),
        "image/object/class/label": ints([o[0] for o in objects]),
        "image/object/is_crowd": ints([0] * len(objects)),
        "image/object/area": floats([(o[3] - o[1]) * (o[4] - o[2]) * width * height for o in objects]),
    }
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def _image(rng: np.random.Generator, size: int):
    image = Image.fromarray(rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8))
    draw = ImageDraw.Draw(image)
    class_id = int(rng.integers(1, len(NAMES) + 1))
    side = int(rng.integers(size // 3, size // 2))
    x, y = (int(v) for v in rng.integers(0, size - side, 2))
    color = (230, 200, 40) if class_id == 1 else (40, 200, 230)
    (draw.ellipse if class_id == 1 else draw.rectangle)([x, y, x + side - 1, y + side - 1], fill=color)
    return image, [(class_id, y / size, x / size, (y + side) / size, (x + side) / size)]


def write_shapes(folder: str, num_train: int = 32, num_val: int = 8, size: int = 64, seed: int = 0) -> str:
    """Writes train (2 shards), val (1 shard) and label_map.pbtxt into `folder`; returns it."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    for split, count, shards in (("train", num_train, 2), ("val", num_val, 1)):
        writers = [tf.io.TFRecordWriter(os.path.join(folder, f"{split}.tfrecord-{k:05d}-of-{shards:05d}"))
                   for k in range(shards)]
        for i in range(count):
            image, objects = _image(rng, size)
            writers[i % shards].write(_example(image, objects, f"{split}_{i:04d}.png"))
        for writer in writers:
            writer.close()
    with open(os.path.join(folder, "label_map.pbtxt"), "w", encoding="utf-8") as f:
        f.writelines(f"item {{\n  id: {i + 1}\n  name: '{name}'\n}}\n" for i, name in enumerate(NAMES))
    return folder
