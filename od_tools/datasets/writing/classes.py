"""The label map of a conversion: the user's, the one the annotations declare, or one made up
from the class names found (ids from 1 in sorted name order, so the same classes always get the
same ids however the files are ordered)."""

from __future__ import annotations

from typing import Sequence

from od_tools.common.errors import UserError
from od_tools.datasets.annotations.image_record import Dataset
from od_tools.label_map import LabelItem, LabelMap, read_label_map


def resolve_label_map(datasets: Sequence[Dataset], label_map_path: str | None) -> tuple[LabelMap, str]:
    """The label map and a phrase saying where it came from."""
    if label_map_path:
        return read_label_map(label_map_path), f"--label_map_path={label_map_path}"
    if all(d.declared_classes for d in datasets):
        first = datasets[0]
        for other in datasets[1:]:
            if other.declared_classes != first.declared_classes:
                raise UserError(f"{other.source}: its classes {dict(other.declared_classes)} differ from those of "
                                f"{first.source} {dict(first.declared_classes)}; pass --label_map_path to fix the ids")
        items = tuple(LabelItem(class_id, name) for class_id, name in first.declared_classes)
        return LabelMap(items), first.classes_origin
    names = sorted({obj.class_name for d in datasets for r in d.records for obj in r.objects if obj.class_name})
    if not names:
        raise UserError(f"{datasets[0].source}: no class names in the annotations; pass --label_map_path "
                        "(label_map.pbtxt) to name the class ids")
    return LabelMap.from_names(names), "class names found in the annotations, sorted"
