"""Finding a complete trained checkpoint, with one-line errors.

Restoring it into the model is od_tools.modeling's `restore_model` (the layout training writes);
this module adds what an export needs before that: a clear error for a folder without a
checkpoint, and for a partial one (an interrupted copy), which TensorFlow would only report deep
inside restoring, or not at all for variables it skips.
"""

from __future__ import annotations

import tensorflow as tf

from od_tools.common.errors import UserError
from od_tools.modeling import latest_checkpoint


def resolve_checkpoint(path: str) -> str:
    """A complete checkpoint prefix (`.../ckpt-600`) from a training folder or a prefix."""
    if not path:
        raise UserError("--trained_checkpoint_dir is empty; pass the training folder (with ckpt-* files)")
    prefix = latest_checkpoint(path)
    if prefix is None:
        if tf.io.gfile.isdir(path):
            raise UserError(f"{path}: no checkpoint found (no `checkpoint` file naming a ckpt-*); "
                            "pass the --model_dir that training wrote")
        raise UserError(f"{path}: no such checkpoint folder or ckpt-* prefix; check --trained_checkpoint_dir")
    _check_complete(prefix)
    return prefix


def _check_complete(prefix: str) -> None:
    """Reads every tensor: a missing or truncated data shard fails here, with its file named."""
    if not tf.io.gfile.exists(prefix + ".index"):
        raise UserError(f"{prefix}.index is missing: the checkpoint is partial; copy the whole checkpoint "
                        "(ckpt-N.index and ckpt-N.data-*) or point at an earlier one")
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, OSError) as e:  # IndexError: truncated data
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{prefix}: the checkpoint is partial or corrupt ({first_line[:160]}); "
                        "copy the whole checkpoint (ckpt-N.index and every ckpt-N.data-* file)") from e
