"""Checkpoints of the detector: the layout, restoring for inference or fine-tuning, fingerprints.

Training writes `tf.train.Checkpoint(model=..., optimizer=...)`, the layout Model Garden's own
trainer and exporter use, so `tf.train.Checkpoint(model=model).read(path)` restores a trained
detector anywhere (export included). Fine-tuning also reads Model Garden's module checkpoints
(`backbone/...`, `decoder/...`, `head/...`).
"""

from __future__ import annotations

import hashlib
import os

import tensorflow as tf

from od_tools.common.errors import UserError


class CheckpointRestoreError(UserError):
    """A checkpoint that does not fit the model the pipeline config describes."""


def latest_checkpoint(path: str) -> str | None:
    """The newest checkpoint prefix in a folder, or `path` itself when it is a prefix."""
    if tf.io.gfile.isdir(path):
        return tf.train.latest_checkpoint(path)
    return path if tf.io.gfile.exists(path + ".index") else None


def read_step(prefix: str) -> int:
    """The training step a checkpoint was written at (from its `ckpt-<step>` name)."""
    tail = os.path.basename(prefix).rpartition("-")[2]
    return int(tail) if tail.isdigit() else 0


def restore_model(model, checkpoint_path: str) -> str:
    """Restores a trained detector's weights for inference; returns the checkpoint prefix."""
    prefix = latest_checkpoint(checkpoint_path)
    if prefix is None:
        raise CheckpointRestoreError(f"{checkpoint_path}: no checkpoint found (no ckpt-*.index and no "
                                     "`checkpoint` file); point at a model_dir or a ckpt-N prefix")
    try:
        tf.train.Checkpoint(model=model).read(prefix).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError) as e:
        raise CheckpointRestoreError(
            f"{prefix}: does not fit the model this pipeline config describes ({str(e).splitlines()[0][:160]}); "
            "use the pipeline.config the checkpoint was trained with") from e
    return prefix


def _module_checkpoint(prefix: str, parts: dict[str, tf.Module]) -> tf.train.Checkpoint:
    """A reader for `parts` in either od_tools'/Model Garden trainer layout or module layout."""
    names = [name for name, _ in tf.train.list_variables(prefix)]
    if any(name.startswith("model/") for name in names):
        return tf.train.Checkpoint(model=tf.train.Checkpoint(**{f"_{k}": v for k, v in parts.items()}))
    return tf.train.Checkpoint(**parts)


def restore_fine_tune(model, checkpoint_path: str, modules: str) -> str:
    """Initialises `model` from a fine_tune_checkpoint; returns what was restored, for the log.

    `modules` is 'backbone' (fine_tune_checkpoint_type 'classification') or 'all' ('detection').
    With 'all', a head of another shape (another number of classes or anchors) is skipped, as
    the OD API skips the class predictions when fine-tuning a detector on new classes.
    """
    prefix = latest_checkpoint(checkpoint_path)
    if prefix is None:
        raise CheckpointRestoreError(f"{checkpoint_path}: fine_tune_checkpoint not found")
    candidates = [{"backbone": model.backbone}]
    if modules == "all":
        candidates = [{"backbone": model.backbone, "decoder": model.decoder, "head": model.head},
                      {"backbone": model.backbone, "decoder": model.decoder}]
    error: Exception | None = None
    for parts in candidates:
        try:
            _module_checkpoint(prefix, parts).read(prefix).expect_partial().assert_existing_objects_matched()
            return f"{' + '.join(parts)} from {prefix}"
        except (AssertionError, ValueError) as e:
            error = e
    raise CheckpointRestoreError(
        f"train_config.fine_tune_checkpoint: {prefix} does not fit this model's "
        f"{' + '.join(candidates[-1])} ({str(error).splitlines()[0][:160]}); fine-tune from a checkpoint "
        "of the same backbone (model.ssd.feature_extractor type and depth_multiplier)")


def variables_fingerprint(variables) -> str:
    """A SHA-256 over every variable's shape and value, in the model's own order.

    Names are left out: Keras numbers layers per process ('conv2d_7'), so the same weights in
    a second model built by the same process would otherwise differ.
    """
    digest = hashlib.sha256()
    for variable in variables:
        value = variable.numpy()
        digest.update(str(value.shape).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()
