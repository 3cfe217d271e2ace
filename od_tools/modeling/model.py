"""The detection model: built by the Object Detection API's model_builder from the config as given.

Checkpoints are the OD API's own layout, `tf.train.Checkpoint(model=detection_model, ...)`: what
`model_main_tf2.py` writes, what model-zoo downloads hold in `checkpoint/ckpt-0`, and what the
OD API's exporters restore, so checkpoints move freely between the OD API's tools and these.
"""

from __future__ import annotations

import hashlib

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


def read_step(prefix: str) -> int:
    """The training step a checkpoint holds (the OD API numbers ckpt-N by save, not by step)."""
    reader = tf.train.load_checkpoint(prefix)
    key = "step/.ATTRIBUTES/VARIABLE_VALUE"
    return int(reader.get_tensor(key)) if reader.has_tensor(key) else 0


def checkpoint_fingerprint(prefix: str) -> str:
    """A SHA-256 over the model's variables in a checkpoint: names, shapes and values.

    Names are the object-graph paths (`model/_feature_extractor/...`), the same in every
    process, so two runs that trained the same weights give the same fingerprint.
    """
    reader = tf.train.load_checkpoint(prefix)
    digest = hashlib.sha256()
    for name in sorted(reader.get_variable_to_shape_map()):
        if not name.startswith("model/") or "OPTIMIZER_SLOT" in name:
            continue
        value = reader.get_tensor(name)
        digest.update(name.encode())
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def check_complete(prefix: str) -> None:
    """Reads every tensor: a missing or truncated data shard fails here, with its file named,
    instead of deep inside a restore (or not at all for variables a restore skips)."""
    if not tf.io.gfile.exists(prefix + ".index"):
        raise CheckpointRestoreError(f"{prefix}.index is missing: the checkpoint is partial; copy the whole "
                                     "checkpoint (ckpt-N.index and ckpt-N.data-*) or point at an earlier one")
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, OSError) as e:  # IndexError: truncated data
        raise CheckpointRestoreError(f"{prefix}: the checkpoint is partial or corrupt ({first_line(e, limit=160)}); "
                                     "copy the whole checkpoint (ckpt-N.index and every ckpt-N.data-* file)") from e
