"""The detection model: built by the Object Detection API's model_builder from the config as given.

Checkpoints are the OD API's own layout, `tf.train.Checkpoint(model=detection_model, ...)`: what
`model_main_tf2.py` writes, what model-zoo downloads hold in `checkpoint/ckpt-0`, and what the
OD API's exporters restore, so checkpoints move freely between the OD API's tools and these.
"""

from __future__ import annotations

import tensorflow as tf
from object_detection.builders import model_builder

from od_tools.common.errors import UserError, first_line
from od_tools.config import PipelineProto, fixed_input_size


class CheckpointRestoreError(UserError):
    """A checkpoint that does not fit the model the pipeline config describes."""


def inference_mode() -> None:
    """Sets Keras' global learning phase to inference.

    Layers the OD API builds from Model Garden (EfficientDet's EfficientNet) follow it instead of
    the model's `is_training`, and the OD API's training step sets it to 1 and leaves it so: a
    model built for inference after training, in the same process, would otherwise run (and
    export) its batch norm in training mode.
    """
    tf.keras.backend.set_learning_phase(0)


def build_model(config: PipelineProto, is_training: bool = False):
    """The OD API DetectionModel the config's `model { ... }` describes (variables not yet built)."""
    if not is_training:
        inference_mode()
    return model_builder.build(config.model, is_training=is_training)


def does_not_fit(prefix: str, error: Exception) -> CheckpointRestoreError:
    """The one-line error for a checkpoint of another model (unfilled or mis-shaped variables)."""
    return CheckpointRestoreError(
        f"{prefix}: does not fit the model this pipeline config describes ({first_line(error, limit=160)}); "
        "use the pipeline.config the checkpoint was trained with")


def check_restored(status, prefix: str) -> None:
    """Turns a restore that left model variables unfilled into a one-line error."""
    try:
        status.assert_existing_objects_matched()
    except AssertionError as e:
        raise does_not_fit(prefix, e) from e


def load_model(config: PipelineProto, prefix: str):
    """The model with the checkpoint's weights, or a one-line error if they do not fit it.

    The variables are built first (one forward pass on zeros), so restoring assigns at once and
    a variable of another shape is an error here. Restored before they exist, as the OD API's
    exporters do, a mis-shaped variable can slip through into a SavedModel that later fails to load.
    """
    model = build_model(config, is_training=False)
    height, width = fixed_input_size(config) or (320, 320)
    images, shapes = model.preprocess(tf.zeros([1, height, width, 3]))
    model.predict(images, shapes)
    try:
        status = tf.train.Checkpoint(model=model).read(prefix).expect_partial()
    except ValueError as e:
        raise does_not_fit(prefix, e) from e
    check_restored(status, prefix)
    return model
