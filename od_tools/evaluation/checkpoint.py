"""One checkpoint evaluated the way `model_main_tf2.py --checkpoint_dir` does it.

The body of the OD API's `model_lib_v2.eval_continuously` for a single, given checkpoint: its
eval input pipeline, `eager_eval_loop` with the evaluators `eval_config.metrics_set` names
(COCO on pycocotools by default), and its TensorBoard summaries, side-by-side images included.
The metrics are the OD API's, name for name.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf
from object_detection import inputs, model_lib_v2
from object_detection.builders import optimizer_builder
from object_detection.utils import config_util

from od_tools.config import PipelineProto
from od_tools.modeling import build_model


@dataclasses.dataclass(frozen=True)
class CheckpointMetrics:
    metrics: dict[str, float]  # the OD API's names, e.g. DetectionBoxes_Precision/mAP
    step: int                  # the training step the checkpoint holds
    num_images: int            # evaluated images


def _count_images(input_config) -> int:
    """The examples the eval input pipeline reads: every record, or 1 of n."""
    from od_tools.evaluation.examples import matched_files

    records = tf.data.TFRecordDataset(matched_files(list(input_config.tf_record_input_reader.input_path)))
    count = int(records.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
    n = max(1, input_config.sample_1_of_n_examples)
    return -(-count // n)


def evaluate_checkpoint(config: PipelineProto, prefix: str, summary_dir: str, *,
                        sample_1_of_n: int = 1) -> CheckpointMetrics:
    """Evaluates `prefix` on eval_input_reader[0]; summaries go to `summary_dir`."""
    configs = config_util.create_configs_from_pipeline_proto(config)
    configs = config_util.merge_external_params_with_configs(
        configs, None, kwargs_dict={"sample_1_of_n_eval_examples": sample_1_of_n, "eval_num_epochs": 1})
    eval_config = configs["eval_config"]
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        model = build_model(config, is_training=True)  # as eval_continuously builds it
    eval_input = strategy.experimental_distribute_dataset(inputs.eval_input(
        eval_config=eval_config, eval_input_config=configs["eval_input_configs"][0],
        model_config=configs["model"], model=model))
    global_step = tf.Variable(0, trainable=False, dtype=tf.int64)
    optimizer, _ = optimizer_builder.build(configs["train_config"].optimizer, global_step=global_step)
    if eval_config.use_moving_averages:
        model_lib_v2._ensure_model_is_built(model, eval_input, eval_config.batch_size == 1)  # pylint: disable=protected-access
        optimizer.shadow_copy(model)
    tf.train.Checkpoint(step=global_step, model=model, optimizer=optimizer).restore(prefix).expect_partial()
    if eval_config.use_moving_averages:
        optimizer.swap_weights()
    with tf.summary.create_file_writer(summary_dir).as_default():
        metrics = model_lib_v2.eager_eval_loop(model, configs, eval_input, global_step=global_step)
    return CheckpointMetrics({name: float(value) for name, value in metrics.items()}, int(global_step.numpy()),
                             _count_images(configs["eval_input_configs"][0]))
