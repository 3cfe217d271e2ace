"""Where a checkpoint is: the one place that turns what users pass into a `ckpt-N` prefix.

Users name checkpoints the ways the Object Detection API's tutorials do: a prefix
(`model_dir/ckpt-6`, the zoo's `.../checkpoint/ckpt-0`), a `model_main_tf2` model_dir (its
`checkpoint` state file names the newest), a model-zoo download or an exported folder (both hold
`checkpoint/` and `pipeline.config`). Every tool resolves them here, and the file layout is read
without TensorFlow (for remote paths TensorFlow's file layer is used).
"""

from __future__ import annotations

import dataclasses
import os
import re

from od_tools.common.errors import UserError
from od_tools.common.files import is_url, read_text

STATE_FILE = "checkpoint"  # tf.train.CheckpointManager's state file, also the zoo's folder name
PIPELINE_CONFIG = "pipeline.config"


class CheckpointNotFound(UserError):
    """A path that holds no checkpoint."""


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

