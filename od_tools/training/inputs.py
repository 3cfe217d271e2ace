"""The training input pipeline: Model Garden's decoder and RetinaNet parser over TFRecord shards.

Model Garden's own reader is not used for training because (1) under op determinism, tf.data's
rewrite of a parallel map with random ops fails on its parser ("input[0] == '^args_3', is not
found"), so the augmenting parser must run as a sequential map then, and (2) it shuffles the
file list with a random seed before sharding it across workers, which can give two workers the
same files. Here files are sharded first, then each worker shuffles its own.
"""

from __future__ import annotations

import tensorflow as tf
from official.vision.dataloaders import retinanet_input, tf_example_decoder

from od_tools.evaluation.examples import matched_files

AUTOTUNE = tf.data.AUTOTUNE


def build_parser(task_config) -> retinanet_input.Parser:
    """The RetinaNet parser with the task's anchors, input size and augmentation."""
    model, parser = task_config.model, task_config.train_data.parser
    return retinanet_input.Parser(
        output_size=model.input_size[:2],
        min_level=model.min_level,
        max_level=model.max_level,
        num_scales=model.anchor.num_scales,
        aspect_ratios=model.anchor.aspect_ratios,
        anchor_size=model.anchor.anchor_size,
        dtype=task_config.train_data.dtype,
        match_threshold=parser.match_threshold,
        unmatched_threshold=parser.unmatched_threshold,
        box_coder_weights=model.detection_generator.box_coder_weights,
        aug_type=parser.aug_type,
        aug_rand_hflip=parser.aug_rand_hflip,
        aug_rand_jpeg=parser.aug_rand_jpeg,
        aug_scale_min=parser.aug_scale_min,
        aug_scale_max=parser.aug_scale_max,
        skip_crowd_during_training=parser.skip_crowd_during_training,
        max_num_instances=parser.max_num_instances,
        pad=parser.pad,
        keep_aspect_ratio=parser.keep_aspect_ratio)


def train_dataset(task_config, input_context: tf.distribute.InputContext | None = None, *,
                  deterministic: bool = False) -> tf.data.Dataset:
    """Endless shuffled, augmented, batched (images, labels) for one input pipeline."""
    data = task_config.train_data
    files = matched_files(data.input_path)
    if not files:
        raise ValueError(f"no files match {data.input_path}")
    pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline_id = input_context.input_pipeline_id if input_context else 0
    batch_size = input_context.get_per_replica_batch_size(data.global_batch_size) if input_context \
        else data.global_batch_size
    seed = data.seed

    dataset = tf.data.Dataset.from_tensor_slices(files)
    shard_records = len(files) < pipelines
    if not shard_records and pipelines > 1:
        dataset = dataset.shard(pipelines, pipeline_id)
    dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
    dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 8),
                                 num_parallel_calls=AUTOTUNE, deterministic=True)
    if shard_records and pipelines > 1:
        dataset = dataset.shard(pipelines, pipeline_id)
    dataset = dataset.shuffle(max(data.shuffle_buffer_size, 1), seed=seed)
    decoder = tf_example_decoder.TfExampleDecoder(regenerate_source_id=False)
    dataset = dataset.map(decoder.decode, num_parallel_calls=AUTOTUNE, deterministic=True)
    # The parser draws random augmentations: in deterministic runs it must see examples in order.
    parse = build_parser(task_config).parse_fn(is_training=True)
    dataset = dataset.map(parse, num_parallel_calls=None if deterministic else AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)
    if deterministic:
        options = tf.data.Options()
        options.deterministic = True
        # Fusing the parser into the batch would make it a parallel map again.
        options.experimental_optimization.map_and_batch_fusion = False
        dataset = dataset.with_options(options)
    return dataset
