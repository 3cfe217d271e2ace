"""Seeded train/val splits: the same inputs and seed always give the same split and order."""

from __future__ import annotations

import random
from typing import Sequence, TypeVar

from od_tools.common.errors import UserError

T = TypeVar("T")


def shuffled(items: Sequence[T], seed: int) -> list[T]:
    """A seeded permutation. Shards written in this order mix classes and sources, which small
    shuffle buffers in training input pipelines cannot do for files sorted by class."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    return [items[i] for i in order]


def val_count(total: int, val_fraction: float) -> int:
    """round(total * fraction), but at least one image in each split when splitting at all."""
    if not 0.0 <= val_fraction < 1.0:
        raise UserError(f"--val_fraction={val_fraction}: must be at least 0 and below 1")
    if val_fraction == 0.0:
        return 0
    if total < 2:
        raise UserError(f"--val_fraction={val_fraction}: the dataset has {total} image(s); a split needs at least 2")
    return min(max(1, round(total * val_fraction)), total - 1)


def split_train_val(items: Sequence[T], val_fraction: float, seed: int) -> tuple[list[T], list[T]]:
    """(train, val), both in seeded shuffled order."""
    order = shuffled(items, seed)
    count = val_count(len(items), val_fraction)
    return order[count:], order[:count]
