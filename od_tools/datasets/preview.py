"""A contact sheet of TFRecord examples with their boxes (and masks) drawn: what the model will be shown.

Rendered from the records themselves (not the annotations), so it proves the boxes landed on
the objects after normalization, clipping and sharding.
"""

from __future__ import annotations

import io
import itertools
from typing import Sequence

from PIL import Image, ImageDraw

from od_tools.common.files import atomic_path
from od_tools.datasets.annotations import tf_example
from od_tools.datasets.formats.tfrecords import read_serialized

TILE = 256
MASK_OPACITY = 0.45
PALETTE = ((255, 64, 64), (64, 200, 255), (255, 220, 0), (120, 255, 120), (255, 128, 255), (255, 160, 64))


def _tile(serialized: bytes) -> Image.Image:
    import tensorflow as tf

    example = tf.train.Example.FromString(serialized)
    feature = example.features.feature

    def values(key: str) -> list:
        if key not in feature:
            return []
        kind = feature[key].WhichOneof("kind")
        return list(getattr(feature[key], kind).value) if kind else []

    image = Image.open(io.BytesIO(values(tf_example.ENCODED)[0])).convert("RGB")
    scale = TILE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    labels = values(tf_example.CLASS_LABEL)
    masks = [m for m in values(tf_example.MASK) if isinstance(m, bytes)]
    image = _with_masks(image, masks, labels).resize(size)
    draw = ImageDraw.Draw(image)
    boxes = zip(*(values(k) for k in tf_example.BOX_KEYS))
    texts = values(tf_example.CLASS_TEXT)
    for i, (xmin, ymin, xmax, ymax) in enumerate(boxes):
        label = labels[i] if i < len(labels) else 0
        colour = PALETTE[label % len(PALETTE)]
        corners = (xmin * image.width, ymin * image.height, xmax * image.width, ymax * image.height)
        draw.rectangle(corners, outline=colour, width=2)
        text = texts[i].decode("utf-8", "replace") if i < len(texts) else str(label)
        draw.text((corners[0] + 3, corners[1] + 2), text, fill=colour)
    return image


def _with_masks(image: Image.Image, masks: Sequence[bytes], labels: Sequence[int]) -> Image.Image:
    """The image with each PNG mask laid over it in its class colour (masks the image's size)."""
    for i, png in enumerate(masks):
        try:
            mask = Image.open(io.BytesIO(png)).convert("L").point(lambda v: round(255 * MASK_OPACITY) if v else 0)
        except (OSError, SyntaxError, ValueError):
            continue  # inspection reports it as mask_corrupt
        if mask.size != image.size:
            continue  # reported as mask_size_mismatch
        colour = PALETTE[(labels[i] if i < len(labels) else 0) % len(PALETTE)]
        image = Image.composite(Image.new("RGB", image.size, colour), image, mask)
    return image


def render_preview(files: Sequence[str], output_png: str, count: int = 16, columns: int = 4) -> str:
    """Draws the first `count` records of `files` (in order) into a grid PNG."""
    records = list(itertools.islice((r for f in files for r in read_serialized(f)), count))
    tiles = [_tile(r) for r in records]
    rows = max(1, -(-len(tiles) // columns))
    sheet = Image.new("RGB", (columns * TILE, rows * TILE), (32, 32, 32))
    for index, tile in enumerate(tiles):
        sheet.paste(tile, ((index % columns) * TILE, (index // columns) * TILE))
    with atomic_path(output_png, suffix=".png") as tmp:
        sheet.save(tmp, "PNG")
    return output_png
