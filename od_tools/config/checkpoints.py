"""Where a checkpoint is: the one place that turns what users pass into a `ckpt-N` prefix.

Users name checkpoints the ways the Object Detection API's tutorials do: a prefix
(`model_dir/ckpt-6`, the zoo's `.../checkpoint/ckpt-0`), a `model_main_tf2` model_dir (its
`checkpoint` state file names the newest), a model-zoo download or an exported folder (both hold
`checkpoint/` and `pipeline.config`). Every tool resolves them here, and the file layout is read
without TensorFlow (for remote paths TensorFlow's file layer is used). What a checkpoint holds
is read here too: its step, whether it is complete, its weights' fingerprint and which root
(`model/` or `feature_extractor/`) fine-tuning can restore from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re

from od_tools.common.errors import UserError, first_line
from od_tools.common.files import is_url, read_text

STATE_FILE = "checkpoint"  # tf.train.CheckpointManager's state file, also the zoo's folder name
PIPELINE_CONFIG = "pipeline.config"


# What fine_tune_checkpoint_type restores (restore_from_objects of the OD API's models), and the
# root of the checkpoint each one reads: detection checkpoints hold `model/...` (what
# model_main_tf2 writes, the zoo's checkpoint/ckpt-0), classification ones `feature_extractor/...`.
FINE_TUNE_ROOTS = {"detection": "model/", "full": "model/", "classification": "feature_extractor/"}


class CheckpointNotFound(UserError):
    """A path that holds no checkpoint."""


class CheckpointCorrupt(UserError):
    """A checkpoint with a missing or truncated file."""


def _exists(path: str) -> bool:
    if is_url(path):
        import tensorflow as tf

        return tf.io.gfile.exists(path)
    return os.path.exists(path)


def _isdir(path: str) -> bool:
    if is_url(path):
        import tensorflow as tf

        return tf.io.gfile.isdir(path)
    return os.path.isdir(path)


def _state_prefix(folder: str) -> str | None:
    """The newest checkpoint a `checkpoint` state file names (relative to its folder), if present."""
    state = os.path.join(folder, STATE_FILE)
    if not _exists(state) or _isdir(state):
        return None
    match = re.search(r'^model_checkpoint_path:\s*"(.*)"\s*$', read_text(state, "checkpoint state file"), re.M)
    if not match:
        return None
    name = match.group(1)
    return name if os.path.isabs(name) or is_url(name) else os.path.join(folder, name)


@dataclasses.dataclass(frozen=True)
class Located:
    prefix: str           # e.g. .../checkpoint/ckpt-0
    pipeline_config: str  # the pipeline.config beside it ('' if none)

    def config_path(self, given: str | None, where: str) -> str:
        """The pipeline.config to read with this checkpoint: `given` (--pipeline_config_path), else
        the one beside it; `where` names the checkpoint as the user gave it."""
        if given:
            return given
        if self.pipeline_config:
            return self.pipeline_config
        raise UserError(f"{where}: no pipeline.config beside the checkpoint; pass --pipeline_config_path")


def locate(path: str) -> Located | None:
    """The checkpoint `path` names (see the module docstring), or None when it holds none."""
    path = path.rstrip("/") if path not in ("/", "") else path
    if not path:
        return None
    if _exists(path + ".index"):
        folder = os.path.dirname(path)
        return Located(path, pipeline_near(folder))
    if not _isdir(path):
        return None
    for folder in (path, os.path.join(path, STATE_FILE)):
        prefix = _state_prefix(folder) if _isdir(folder) else None
        if prefix and _exists(prefix + ".index"):
            return Located(prefix, pipeline_near(folder))
    return None


def pipeline_near(folder: str) -> str:
    """The pipeline.config of a model_dir, or of the zoo/exported folder `checkpoint/` (or
    `saved_model/`, or a .tflite's folder) sits in; '' when there is none."""
    for candidate in (folder, os.path.dirname(folder)):
        path = os.path.join(candidate, PIPELINE_CONFIG)
        if candidate and _exists(path):
            return path
    return ""


def resolve(path: str, what: str) -> Located:
    """`locate`, with a one-line error naming `what` (e.g. --trained_checkpoint_dir) when absent."""
    found = locate(path)
    if found is not None:
        return found
    if not path:
        raise CheckpointNotFound(f"{what} is empty; give a model_dir, a model-zoo folder or a ckpt-N prefix")
    if _isdir(path):
        raise CheckpointNotFound(
            f"{what} {path}: no checkpoint in it (no `checkpoint` file naming a ckpt-N, in it or in its "
            "checkpoint/ folder); give the model_dir training wrote, a model-zoo folder or a ckpt-N prefix")
    raise CheckpointNotFound(f"{what} {path}: no such folder or checkpoint (looked for {path}.index); "
                             "give a model_dir, a model-zoo folder or a ckpt-N prefix")


def read_step(prefix: str) -> int:
    """The training step a checkpoint holds (the OD API numbers ckpt-N by save, not by step)."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(prefix)
    key = "step/.ATTRIBUTES/VARIABLE_VALUE"
    return int(reader.get_tensor(key)) if reader.has_tensor(key) else 0


def checkpoint_fingerprint(prefix: str) -> str:
    """A SHA-256 over the model's variables in a checkpoint: names, shapes and values.

    Names are the object-graph paths (`model/_feature_extractor/...`), the same in every
    process, so two runs that trained the same weights give the same fingerprint.
    """
    import tensorflow as tf

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
    import tensorflow as tf

    if not tf.io.gfile.exists(prefix + ".index"):
        raise CheckpointCorrupt(f"{prefix}.index is missing: the checkpoint is partial; copy the whole "
                                "checkpoint (ckpt-N.index and ckpt-N.data-*) or point at an earlier one")
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except (tf.errors.OpError, ValueError, IndexError, OSError) as e:  # IndexError: truncated data
        raise CheckpointCorrupt(f"{prefix}: the checkpoint is partial or corrupt ({first_line(e, limit=160)}); "
                                "copy the whole checkpoint (ckpt-N.index and every ckpt-N.data-* file)") from e
