"""Read, write and validate label maps (`label_map.pbtxt`) and Android `labelmap.txt` files."""

from od_tools.label_map.label_map import (
    ANDROID_LABELS_FILE,
    LabelItem,
    LabelMap,
    LabelMapError,
    android_labels_text,
    format_label_map,
    parse_android_labels,
    parse_label_map,
    read_label_map,
    write_label_map,
)

__all__ = [
    "ANDROID_LABELS_FILE",
    "LabelItem",
    "LabelMap",
    "LabelMapError",
    "android_labels_text",
    "format_label_map",
    "parse_android_labels",
    "parse_label_map",
    "read_label_map",
    "write_label_map",
]
