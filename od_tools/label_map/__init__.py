"""Read, write and validate label maps (`label_map.pbtxt`) and Android `labelmap.txt` files."""

from od_tools.label_map.label_map import (
    LabelItem,
    LabelMap,
    LabelMapError,
    format_android_labels,
    format_label_map,
    parse_label_map,
    read_label_map,
    write_android_labels,
    write_label_map,
)

__all__ = [
    "LabelItem",
    "LabelMap",
    "LabelMapError",
    "format_android_labels",
    "format_label_map",
    "parse_label_map",
    "read_label_map",
    "write_android_labels",
    "write_label_map",
]
