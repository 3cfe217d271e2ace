"""Evaluation examples straight from TFRecords: original images and their ground truth, decoded by
the Object Detection API's own TFRecord decoder (what its input pipeline reads them with)."""

from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np
import tensorflow as tf
from object_detection.core import standard_fields as fields
from object_detection.data_decoders import tf_example_decoder
from object_detection.protos import input_reader_pb2

from od_tools.evaluation.coco import GroundTruth

_FIELDS = fields.InputDataFields


@dataclasses.dataclass(frozen=True)
class Example:
    index: int
    source_id: str
    image: np.ndarray  # uint8 [H, W, 3]
    groundtruth: GroundTruth


def input_patterns(input_path: str | Sequence[str]) -> list[str]:
    """An input_path: a string (comma-separated globs) or a list of globs."""
    items = [input_path] if isinstance(input_path, str) else list(input_path)
    return [p.strip() for item in items for p in str(item).split(",") if p.strip()]


def matched_files(input_path: str | Sequence[str]) -> list[str]:
    """The files an input_path names, sorted (local or remote, through tf.io.gfile)."""
    return sorted({f for pattern in input_patterns(input_path) for f in tf.io.gfile.glob(pattern)})


def read_examples(patterns: Sequence[str], *, num_examples: int = 0, sample_1_of_n: int = 1,
                  mask_type: int | None = None) -> Iterator[Example]:
    """Examples in file order; every n-th one with `sample_1_of_n`, at most `num_examples` (0: all);
    with a `mask_type` (input_reader_pb2's: PNG_MASKS as --include_masks writes them, or NUMERICAL_MASKS),
    their instance masks too."""
    dataset = tf.data.TFRecordDataset(matched_files(patterns))
    if sample_1_of_n > 1:
        dataset = dataset.shard(sample_1_of_n, 0)
    if num_examples > 0:
        dataset = dataset.take(num_examples)
    masks = mask_type is not None
    decoder = tf_example_decoder.TfExampleDecoder(load_instance_masks=masks,
                                                  instance_mask_type=mask_type if masks else input_reader_pb2.DEFAULT)
    dataset = dataset.map(decoder.decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    for index, decoded in enumerate(dataset.prefetch(tf.data.AUTOTUNE)):
        image = decoded[_FIELDS.image].numpy()
        height, width = image.shape[:2]
        yield Example(
            index=index,
            source_id=decoded[_FIELDS.source_id].numpy().decode("utf-8", "replace"),
            image=image,
            groundtruth=GroundTruth(
                image_id=index + 1, height=height, width=width,
                boxes=decoded[_FIELDS.groundtruth_boxes].numpy(),
                classes=decoded[_FIELDS.groundtruth_classes].numpy(),
                is_crowd=decoded[_FIELDS.groundtruth_is_crowd].numpy(),
                area=decoded[_FIELDS.groundtruth_area].numpy(),
                masks=decoded[_FIELDS.groundtruth_instance_masks].numpy().astype(np.uint8) if masks else None))


def same_size_batches(examples: Iterator[Example], batch_size: int) -> Iterator[list[Example]]:
    """Consecutive examples grouped into batches of one image size (a model input batch)."""
    batch: list[Example] = []
    for example in examples:
        if batch and (len(batch) == batch_size or batch[0].image.shape != example.image.shape):
            yield batch
            batch = []
        batch.append(example)
    if batch:
        yield batch
