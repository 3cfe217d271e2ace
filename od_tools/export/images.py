"""Images and ground truth from Object Detection API TFRecords, sized for the exported model.

Records are decoded by od_tools.evaluation (the OD API's TFRecord decoder), as evaluation
does; this module adds the resize to the fixed TFLite input that every model under comparison,
SavedModel included, then sees.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np

from od_tools.common.errors import UserError
from od_tools.evaluation.coco import GroundTruth
from od_tools.evaluation.examples import input_patterns, matched_files, read_examples


@dataclasses.dataclass(frozen=True)
class LabeledImage:
    """One image, resized to the model input, with its ground truth (boxes normalized)."""

    source_id: str
    pixels: np.ndarray  # uint8 [H, W, 3] at the model's input size
    groundtruth: GroundTruth


def match_files(input_path: str | Sequence[str], field: str) -> list[str]:
    patterns = input_patterns(input_path)
    if not patterns:
        raise UserError(f"{field} is empty; set the TFRecord glob of the input reader")
    files = matched_files(patterns)
    if not files:
        raise UserError(f"{field}: no TFRecord matches {', '.join(patterns)}; check the input_path glob")
    return files


def resize(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize to the model input, as the Android apps squash camera frames.

    OpenCV's (pixel centres as tf.image.resize's bilinear, no antialiasing), not a TensorFlow op:
    `detect` resizes in a thread beside the TFLite interpreter, and an eager op's thread pool
    would take the interpreter's core (measured: detect 20% slower with tf.image.resize).
    """
    if pixels.shape[:2] == (height, width):
        return pixels
    import cv2

    return cv2.resize(np.ascontiguousarray(pixels, np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)


def read_images(files: Sequence[str], limit: int, height: int, width: int) -> list[LabeledImage]:
    """The first `limit` images of the files, in file order (deterministic)."""
    return [LabeledImage(example.source_id, resize(example.image, height, width), example.groundtruth)
            for example in read_examples(list(files), num_examples=limit)]


def record_classes(files: Sequence[str], limit: int) -> list[set[int]]:
    """The label ids of each of the first `limit` records (their boxes' classes), read without
    decoding a single image."""
    import tensorflow as tf

    spec = {"image/object/class/label": tf.io.VarLenFeature(tf.int64)}
    dataset = tf.data.TFRecordDataset(list(files)).take(limit)
    parsed = dataset.map(lambda record: tf.sparse.to_dense(tf.io.parse_single_example(record, spec)[
        "image/object/class/label"]), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return [set(int(c) for c in labels.numpy()) for labels in parsed]


def stratified_choice(classes: Sequence[set[int]], count: int) -> list[int]:
    """`count` record indices that cover every class as evenly as the records allow: classes take
    turns, the rarest first, each taking its next record (file order) not yet chosen; once every
    class's records are used, the rest in file order. Deterministic."""
    by_class: dict[int, list[int]] = {}
    for index, labels in enumerate(classes):
        for label in labels:
            by_class.setdefault(label, []).append(index)
    order = sorted(by_class, key=lambda c: (len(by_class[c]), c))
    chosen: list[int] = []
    taken: set[int] = set()
    cursors = {c: 0 for c in order}
    while len(chosen) < count and any(cursors[c] < len(by_class[c]) for c in order):
        for c in order:
            while cursors[c] < len(by_class[c]) and by_class[c][cursors[c]] in taken:
                cursors[c] += 1
            if cursors[c] < len(by_class[c]) and len(chosen) < count:
                chosen.append(by_class[c][cursors[c]])
                taken.add(by_class[c][cursors[c]])
                cursors[c] += 1
    chosen += [i for i in range(len(classes)) if i not in taken][:count - len(chosen)]
    return sorted(chosen)


def read_chosen(files: Sequence[str], indices: Sequence[int], height: int, width: int) -> list[LabeledImage]:
    """The records at `indices` (file order), resized to the model input."""
    wanted = set(indices)
    if not wanted:
        return []
    return [LabeledImage(example.source_id, resize(example.image, height, width), example.groundtruth)
            for example in read_examples(list(files), num_examples=max(wanted) + 1) if example.index in wanted]


def to_model_input(pixels: np.ndarray, uint8_input: bool, mean: float, std: float) -> np.ndarray:
    """[1, H, W, 3] as the TFLite model takes it: raw pixels, or (pixel - mean) / std."""
    batch = pixels[np.newaxis]
    if uint8_input:
        return batch.astype(np.uint8)
    return ((batch.astype(np.float32) - mean) / std).astype(np.float32)


def representative_set(images: Sequence[LabeledImage], mean: float, std: float) -> Iterator[np.ndarray]:
    for image in images:
        yield to_model_input(image.pixels, uint8_input=False, mean=mean, std=std)
