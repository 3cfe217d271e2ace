"""Finding a trained checkpoint and restoring it into a model, with one-line errors."""

from __future__ import annotations

import os

import tensorflow as tf

from od_tools.common.errors import UserError


def resolve_checkpoint(path: str) -> str:
    """A checkpoint prefix (`.../ckpt-600`) from a training folder or a prefix.

    A folder means its latest checkpoint, as named by its `checkpoint` file. Both the `.index`
    and every `.data-*` shard must exist, or the checkpoint is partial (an interrupted copy).
    """
    if not path:
        raise UserError("--trained_checkpoint_dir is empty; pass the training folder (with ckpt-* files)")
    if os.path.isdir(path):
        prefix = tf.train.latest_checkpoint(path)
        if prefix is None:
            raise UserError(f"{path}: no checkpoint found (no `checkpoint` file naming a ckpt-*); "
                            "pass the --model_dir that training wrote")
    elif os.path.exists(path + ".index"):
        prefix = path
    else:
        raise UserError(f"{path}: no such checkpoint folder or ckpt-* prefix; check --trained_checkpoint_dir")
    _check_complete(prefix)
    return prefix


def _check_complete(prefix: str) -> None:
    if not os.path.exists(prefix + ".index"):
        raise UserError(f"{prefix}.index is missing: the checkpoint is partial; copy the whole checkpoint "
                        "(ckpt-N.index and ckpt-N.data-*) or point at an earlier one")
    try:
        reader = tf.train.load_checkpoint(prefix)
        # Reading every tensor catches truncated or missing data shards, not just a bad index.
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, OSError) as e:  # IndexError: truncated data
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{prefix}: the checkpoint is partial or corrupt ({first_line[:160]}); "
                        "copy the whole checkpoint (ckpt-N.index and every ckpt-N.data-* file)") from e


def restore(model: tf.Module, prefix: str, config_source: str) -> None:
    """Restores the model's weights, failing when the checkpoint was trained for another model."""
    try:
        status = tf.train.Checkpoint(model=model).read(prefix)
        status.assert_existing_objects_matched().expect_partial()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        detail = " ".join(str(e).split())[:200]
        raise UserError(f"{prefix}: checkpoint does not fit the model of {config_source} ({detail}); "
                        "export with the pipeline config it was trained with") from e
