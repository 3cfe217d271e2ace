"""Images and ground truth from Object Detection API TFRecords, sized for the exported model."""

from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np
import tensorflow as tf

from od_tools.common.errors import UserError

_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature((), tf.string),
    "image/source_id": tf.io.FixedLenFeature((), tf.string, default_value=""),
    "image/object/bbox/ymin": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/ymax": tf.io.VarLenFeature(tf.float32),
    "image/object/bbox/xmax": tf.io.VarLenFeature(tf.float32),
    "image/object/class/label": tf.io.VarLenFeature(tf.int64),
}


@dataclasses.dataclass(frozen=True)
class LabeledImage:
    """One image, resized to the model input, with its ground truth."""

    source_id: str
    pixels: np.ndarray       # uint8 [H, W, 3] at the model's input size
    original_size: tuple[int, int]  # (height, width) as stored
    boxes: np.ndarray        # float32 [N, 4] ymin, xmin, ymax, xmax in [0, 1]
    classes: np.ndarray      # int64 [N] label ids from 1


def input_patterns(input_path: str | Sequence[str]) -> list[str]:
    """Model Garden input_path: a string (comma-separated globs) or a list of globs."""
    items = [input_path] if isinstance(input_path, str) else list(input_path)
    return [p.strip() for item in items for p in str(item).split(",") if p.strip()]


def match_files(input_path: str | Sequence[str], field: str) -> list[str]:
    patterns = input_patterns(input_path)
    if not patterns:
        raise UserError(f"{field} is empty; set the TFRecord glob of the input reader")
    files = sorted({f for p in patterns for f in tf.io.gfile.glob(p)})
    if not files:
        raise UserError(f"{field}: no TFRecord matches {', '.join(patterns)}; check the input_path glob")
    return files


def resize(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize to the model input, as the Android apps squash camera frames."""
    if pixels.shape[:2] == (height, width):
        return pixels
    resized = tf.image.resize(pixels, (height, width), method="bilinear")
    return np.clip(np.round(resized.numpy()), 0, 255).astype(np.uint8)


def read_images(files: Sequence[str], limit: int, height: int, width: int) -> list[LabeledImage]:
    """The first `limit` images of the files, in file order (deterministic)."""
    images = []
    for record in tf.data.TFRecordDataset(list(files)).take(limit):
        example = tf.io.parse_single_example(record, _FEATURES)
        decoded = tf.io.decode_image(example["image/encoded"], channels=3, expand_animations=False).numpy()
        boxes = np.stack([tf.sparse.to_dense(example[f"image/object/bbox/{k}"]).numpy()
                          for k in ("ymin", "xmin", "ymax", "xmax")], axis=-1).reshape(-1, 4)
        images.append(LabeledImage(
            source_id=example["image/source_id"].numpy().decode() or str(len(images) + 1),
            pixels=resize(decoded, height, width),
            original_size=(int(decoded.shape[0]), int(decoded.shape[1])),
            boxes=boxes.astype(np.float32),
            classes=tf.sparse.to_dense(example["image/object/class/label"]).numpy().astype(np.int64),
        ))
    return images


def to_model_input(pixels: np.ndarray, uint8_input: bool, mean: float, std: float) -> np.ndarray:
    """[1, H, W, 3] as the TFLite model takes it: raw pixels, or (pixel - mean) / std."""
    batch = pixels[np.newaxis]
    if uint8_input:
        return batch.astype(np.uint8)
    return ((batch.astype(np.float32) - mean) / std).astype(np.float32)


def representative_set(images: Sequence[LabeledImage], mean: float, std: float) -> Iterator[np.ndarray]:
    for image in images:
        yield to_model_input(image.pixels, uint8_input=False, mean=mean, std=std)
