"""Seeded train/val splits: the same inputs and seed always give the same split and order.

Items that must not be told apart by the split (copies of one image, frames of one video) are
kept together: the split draws whole groups, so a validation set never holds a copy of a
training image.
"""

from __future__ import annotations

import random
from typing import Hashable, Iterable, Sequence, TypeVar

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


def groups_sharing_keys(keys: Sequence[Iterable[Hashable]]) -> list[list[int]]:
    """Indexes of items that share a key, directly or through others (a shares a key with b, b
    another with c: a, b and c), as groups of two or more, each sorted, ordered by first index.
    `keys[i]` are item i's keys; None is no key."""
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[Hashable, int] = {}
    for index, item_keys in enumerate(keys):
        for key in item_keys:
            if key is None:
                continue
            other = first_with.setdefault(key, index)
            a, b = root(index), root(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    members: dict[int, list[int]] = {}
    for index in range(len(keys)):
        members.setdefault(root(index), []).append(index)
    return [group for group in members.values() if len(group) > 1]


def split_train_val(items: Sequence[T], val_fraction: float, seed: int,
                    together: Sequence[Sequence[int]] = ()) -> tuple[list[T], list[T]]:
    """(train, val), both in seeded shuffled order, with each group of `together` (indexes of
    `items`, disjoint) wholly in one split.

    The split draws groups (an item outside every group is a group of one) in seeded order into
    the validation set while they fit its size, round(len(items) * val_fraction); with no groups
    that is exactly the first items of `shuffled(items, seed)`. Groups bigger than that size go
    to training, unless every group is: then the smallest one is the validation set.
    """
    target = val_count(len(items), val_fraction)
    grouped = {index for group in together for index in group}
    units = sorted([sorted(group) for group in together] + [[i] for i in range(len(items)) if i not in grouped])
    val: set[int] = set()
    if target:
        if len(units) < 2:
            raise UserError(f"--val_fraction={val_fraction}: all {len(items)} images are kept together (identical "
                            "images or one --split_by name); nothing is left to split")
        for unit in shuffled(units, seed):
            if len(val) + len(unit) <= target:
                val.update(unit)
        if not val:
            val.update(min(shuffled(units, seed), key=len))
    order = shuffled(range(len(items)), seed)
    return [items[i] for i in order if i not in val], [items[i] for i in order if i in val]
