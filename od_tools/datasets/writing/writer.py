"""Sharded TFRecord output that appears all at once or not at all.

Every shard is written under a temporary name (`.<name>.<random>.tmp`) in its destination
folder and renamed to `<prefix>-0000K-of-0000N` only when the whole conversion has succeeded
(`od_tools.common.files.atomic_path` on a shared ExitStack). A failed, interrupted or --strict
run leaves no file that looks complete.
"""

from __future__ import annotations

import contextlib
import glob
import math
import os
import re

from od_tools.common.files import atomic_path

# Auto sharding: one shard per this many bytes of encoded images (the OD API guidance of shards
# of 100-200 MB that readers can interleave).
SHARD_TARGET_BYTES = 100 * 1024 * 1024


def shard_name(prefix: str, index: int, count: int) -> str:
    return f"{prefix}-{index:05d}-of-{count:05d}"


def auto_num_shards(total_bytes: int) -> int:
    return max(1, math.ceil(total_bytes / SHARD_TARGET_BYTES))


class ShardedWriter:
    """Writes serialized records round-robin into `num_shards` shards, published by `stack`."""

    def __init__(self, prefix: str, num_shards: int, stack: contextlib.ExitStack):
        import tensorflow as tf

        self.paths = [shard_name(prefix, i, num_shards) for i in range(num_shards)]
        temporary = [stack.enter_context(atomic_path(path)) for path in self.paths]
        self._writers = [tf.io.TFRecordWriter(str(path)) for path in temporary]
        stack.callback(self.close)  # runs first on exit: shards are closed before being renamed
        self.count = 0

    def write(self, serialized: bytes) -> None:
        self._writers[self.count % len(self._writers)].write(serialized)
        self.count += 1

    def close(self) -> None:
        for writer in self._writers:
            writer.close()


def remove_stale_shards(prefix: str, keep: list[str]) -> list[str]:
    """Deletes shards of `prefix` from an earlier run with another shard count, which a glob
    like `train.tfrecord-*` would otherwise read together with the new ones."""
    own = re.compile(re.escape(os.path.basename(prefix)) + r"-\d{5}-of-\d{5}$")
    stale = [path for path in glob.glob(glob.escape(prefix) + "-*-of-*")
             if own.match(os.path.basename(path)) and path not in keep]
    for path in stale:
        os.remove(path)
    return sorted(stale)
