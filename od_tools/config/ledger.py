"""Bookkeeping that guarantees no pipeline.config field is dropped silently.

The mapping marks every field it reads as honoured, as having no effect (queue sizes and other
TF1 knobs that tf.data and tf.distribute make moot), or as not honoured with a reason. Any field
set in the config that the mapping never marked is reported as not honoured too, so adding a
field to the schema without mapping it can only produce a warning, never silence.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message as pb_message

FD = pb_descriptor.FieldDescriptor


def set_field_paths(message: pb_message.Message, prefix: str = "") -> Iterator[str]:
    """Paths of the set leaves of `message`, e.g. `model.ssd.num_classes`, `x.steps[1].a`.

    An empty sub-message that is set (e.g. `iou_similarity {}`) is a leaf itself: choosing it
    is a setting.
    """
    for field, value in message.ListFields():
        path = f"{prefix}.{field.name}" if prefix else field.name
        if field.type != FD.TYPE_MESSAGE:
            yield path
            continue
        items = list(enumerate(value)) if field.is_repeated else [(None, value)]
        for index, item in items:
            item_path = path if index is None else f"{path}[{index}]"
            leaves = list(set_field_paths(item, item_path))
            yield from leaves or [item_path]


def _covers(mark: str, path: str) -> bool:
    return path == mark or path.startswith(mark + ".") or path.startswith(mark + "[")


@dataclasses.dataclass(frozen=True)
class NotHonoured:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclasses.dataclass(frozen=True)
class MappingReport:
    """What became of each field the config sets."""

    honoured: tuple[str, ...]
    no_effect: tuple[str, ...]
    not_honoured: tuple[NotHonoured, ...]

    def warning(self, source: str) -> str:
        """The one warning listing every setting that is not honoured ('' when none)."""
        if not self.not_honoured:
            return ""
        lines = [f"{source}: {len(self.not_honoured)} setting(s) cannot be honoured by Model Garden's "
                 "RetinaNet and are ignored or approximated (--strict makes this an error):"]
        lines += [f"  {item}" for item in self.not_honoured]
        return "\n".join(lines)


class Ledger:
    """Collects marks while mapping; `report()` accounts for every set field."""

    def __init__(self, config: pb_message.Message):
        self._leaves = list(set_field_paths(config))
        self._honoured: list[str] = []
        self._no_effect: list[str] = []
        self._warnings: dict[str, str] = {}

    def honour(self, *paths: str) -> None:
        self._honoured.extend(paths)

    def no_effect(self, *paths: str) -> None:
        self._no_effect.extend(paths)

    def warn(self, path: str, reason: str) -> None:
        self._warnings.setdefault(path, reason)

    def warn_if(self, condition: bool, path: str, reason: str) -> None:
        """Warns when `condition`; otherwise the field's value is what Model Garden does anyway."""
        if condition:
            self.warn(path, reason)
        else:
            self.honour(path)

    def report(self) -> MappingReport:
        honoured, no_effect, unmarked = [], [], []
        for leaf in self._leaves:
            if any(_covers(mark, leaf) for mark in self._warnings):
                continue
            if any(_covers(mark, leaf) for mark in self._honoured):
                honoured.append(leaf)
            elif any(_covers(mark, leaf) for mark in self._no_effect):
                no_effect.append(leaf)
            else:
                unmarked.append(leaf)
        warnings = [NotHonoured(path, reason) for path, reason in self._warnings.items()]
        warnings += [NotHonoured(path, "not supported by od_tools; ignored") for path in unmarked]
        return MappingReport(tuple(honoured), tuple(no_effect), tuple(warnings))
