"""Label maps in the Object Detection API's text format (`label_map.pbtxt`).

A label map says which class name goes with which integer id. Ids start at 1 (0 is the
background class) and must be unique, as must names. Every error names the file and the line
of the offending item, and says what to change.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable, Sequence

from google.protobuf import text_format

from od_tools.common.errors import UserError
from od_tools.common.files import read_text, write_text_atomic
from object_detection.protos import string_int_label_map_pb2

ANDROID_PLACEHOLDER = "???"


class LabelMapError(UserError):
    """A label map that cannot be read or does not follow the rules above."""


@dataclasses.dataclass(frozen=True)
class LabelItem:
    id: int
    name: str
    display_name: str = ""

    @property
    def label(self) -> str:
        """The name to show people: display_name when set, else name."""
        return self.display_name or self.name


@dataclasses.dataclass(frozen=True)
class LabelMap:
    """A validated label map, items sorted by id."""

    items: tuple[LabelItem, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple(sorted(self.items, key=lambda item: item.id)))
        _check_items(self.items, source="label map", lines=None)

    @classmethod
    def from_names(cls, names: Iterable[str], display_names: Sequence[str] | None = None) -> "LabelMap":
        """Ids 1, 2, ... in the order given: the stable numbering for a dataset's classes."""
        names = list(names)
        shown = list(display_names) if display_names is not None else [""] * len(names)
        if len(shown) != len(names):
            raise ValueError("display_names must match names one to one")
        return cls(tuple(LabelItem(i + 1, n, d) for i, (n, d) in enumerate(zip(names, shown))))

    @property
    def num_classes(self) -> int:
        """The largest id: the number of foreground classes a model must predict."""
        return max(item.id for item in self.items)

    @property
    def ids(self) -> list[int]:
        return [item.id for item in self.items]

    @property
    def names(self) -> list[str]:
        return [item.name for item in self.items]

    def id_of(self, name: str) -> int:
        for item in self.items:
            if item.name == name:
                return item.id
        raise KeyError(name)

    def name_of(self, class_id: int) -> str:
        for item in self.items:
            if item.id == class_id:
                return item.name
        raise KeyError(class_id)

    def name_to_id(self, use_display_name: bool = False) -> dict[str, int]:
        return {(item.label if use_display_name else item.name): item.id for item in self.items}

    def id_to_label(self) -> dict[int, str]:
        return {item.id: item.label for item in self.items}

    def android_labels(self) -> list[str]:
        """One label per class id 1..num_classes, in id order; gaps in the ids get '???'.

        Line i (0-based) is the label of id i + 1: the class index the detection
        post-processing op outputs, and the order TFLite label files are read in.
        """
        by_id = self.id_to_label()
        return [by_id.get(i, ANDROID_PLACEHOLDER) for i in range(1, self.num_classes + 1)]


def _check_items(items: Sequence[LabelItem], source: str, lines: Sequence[int] | None) -> None:
    def where(index: int) -> str:
        return f"{source}:{lines[index]}" if lines is not None and index < len(lines) else source

    if not items:
        raise LabelMapError(f"{source}: no items; add at least one `item {{ id: 1 name: '...' }}`")
    first_by_id: dict[int, int] = {}
    first_by_name: dict[str, int] = {}
    for index, item in enumerate(items):
        if item.id == 0:
            raise LabelMapError(
                f"{where(index)}: item '{item.name}' has id 0, which is the background class; "
                "label maps leave it out: number the classes from 1")
        if item.id < 0:
            raise LabelMapError(f"{where(index)}: item '{item.name}' has negative id {item.id}; ids start at 1")
        if not item.name:
            raise LabelMapError(f"{where(index)}: item with id {item.id} has no name; add name: '...'")
        if item.id in first_by_id:
            other = items[first_by_id[item.id]]
            raise LabelMapError(
                f"{where(index)}: id {item.id} of '{item.name}' is already used by '{other.name}' "
                f"at {where(first_by_id[item.id])}; give each item a unique id")
        if item.name in first_by_name:
            raise LabelMapError(
                f"{where(index)}: name '{item.name}' is already used at {where(first_by_name[item.name])}; "
                "give each item a unique name")
        first_by_id[item.id] = index
        first_by_name[item.name] = index


def top_level_item_lines(text: str) -> list[int]:
    """1-based line numbers of each top-level `item` field, skipping strings and comments.

    protobuf's text parser reports syntax errors with positions but keeps none for parsed
    messages; this scan recovers where each item starts so semantic errors can name a line.
    """
    lines: list[int] = []
    depth, line, i, n = 0, 1, 0, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif c in "'\"":
            i += 1
            while i < n and text[i] != c and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1
        elif c in "{<":
            depth += 1
        elif c in "}>":
            depth -= 1
        elif c.isalpha() or c == "_":
            start = i
            while i < n and (text[i].isalnum() or text[i] == "_"):
                i += 1
            if depth == 0 and text[start:i] == "item":
                lines.append(line)
            continue
        i += 1
    return lines


def parse_label_map(text: str, source: str = "<label map>") -> LabelMap:
    """Parses and validates label map text; `source` names it in errors."""
    proto = string_int_label_map_pb2.StringIntLabelMap()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as e:
        # protobuf's messages start with "line:column : ...".
        raise LabelMapError(f"{source}:{e}; fix the label map syntax "
                            "(expected items like `item {{ id: 1 name: 'cat' }}`)") from e
    lines = top_level_item_lines(text)
    items = []
    for index, entry in enumerate(proto.item):
        if not entry.HasField("id"):
            at = f"{source}:{lines[index]}" if index < len(lines) else source
            raise LabelMapError(f"{at}: item '{entry.name}' has no id; add id: N (ids start at 1)")
        items.append(LabelItem(entry.id, entry.name, entry.display_name))
    _check_items(items, source, lines)
    return LabelMap(tuple(items))


def read_label_map(path: str | os.PathLike[str]) -> LabelMap:
    """Reads a `label_map.pbtxt`."""
    return parse_label_map(read_text(path, "label map", error=LabelMapError), source=str(path))


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def format_label_map(label_map: LabelMap) -> str:
    """The label map as text, one item per block, in id order (stable, diff-friendly)."""
    blocks = []
    for item in label_map.items:
        fields = [f"  id: {item.id}", f"  name: {_quote(item.name)}"]
        if item.display_name:
            fields.append(f"  display_name: {_quote(item.display_name)}")
        blocks.append("item {\n" + "\n".join(fields) + "\n}\n")
    return "\n".join(blocks)


def write_label_map(label_map: LabelMap, path: str | os.PathLike[str]) -> None:
    write_text_atomic(path, format_label_map(label_map))


ANDROID_LABELS_FILE = "labelmap.txt"  # what the TFLite Android example app and MediaPipe read


def android_labels_text(labels: Sequence[str]) -> str:
    """`labelmap.txt` for Android and the TFLite metadata: one label per line, line i is class id i + 1."""
    return "\n".join(labels) + "\n"


def parse_android_labels(text: str) -> dict[int, str]:
    """Class id -> label from a `labelmap.txt` (line i is class id i + 1); the placeholder of a gap
    in the ids names no class."""
    labels = {i + 1: line.strip() for i, line in enumerate(text.splitlines())}
    return {i: label for i, label in labels.items() if label and label != ANDROID_PLACEHOLDER}
