"""COCO instances JSON (`images`, `annotations` with `bbox` [x, y, width, height], `categories`).

With masks asked for, each annotation's `segmentation` is read too: polygons, or RLE with
compressed (string) or uncompressed (list) `counts`.

Structural problems (not JSON, missing or mistyped fields, duplicate ids, an annotation of an
image or category the file does not list) stop the run with the file and entry named: the file
contradicts itself and guessing would mislabel data. Data problems go to validation.
"""

from __future__ import annotations

import json
import os
from typing import Any

from od_tools.common.errors import UserError
from od_tools.common.files import read_text
from od_tools.datasets.annotations import geometry
from od_tools.datasets.annotations.masks import Mask, Polygons, RunLength
from od_tools.datasets.annotations.image_record import Dataset, ImageRecord, ObjectAnnotation, Units


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _list(doc: dict, key: str, path: str, required: bool = True) -> list:
    if key not in doc:
        if required:
            raise UserError(f"{path}: no '{key}' list; a COCO instances file has 'images', 'annotations' "
                            "and 'categories'")
        return []
    value = doc[key]
    if not isinstance(value, list):
        raise UserError(f"{path}: '{key}' is a {type(value).__name__}, expected a list")
    return value


def _entry(items: list, index: int, key: str, path: str, fields: dict[str, str]) -> dict:
    """items[index] checked to be an object with the given fields ('int' / 'str' / 'number')."""
    entry = items[index]
    name = f"{path}: {key}[{index}]"
    if not isinstance(entry, dict):
        raise UserError(f"{name} is a {type(entry).__name__}, expected an object")
    checks = {"int": (_is_int, "an integer"), "str": (lambda v: isinstance(v, str), "a string"),
              "number": (_is_number, "a number")}
    for field, kind in fields.items():
        check, wanted = checks[kind]
        if field not in entry:
            raise UserError(f"{name} has no '{field}'; add it ({wanted})")
        if not check(entry[field]):
            raise UserError(f"{name} has '{field}': {json.dumps(entry[field])}, expected {wanted}")
    return entry


def load_json(path: str, what: str) -> Any:
    text = read_text(path, what, encoding="utf-8-sig")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}:{e.colno}: not valid JSON ({e.msg}); fix the file") from e


_SEGMENTATION_SHAPE = ("expected polygons [[x1, y1, x2, y2, ...], ...] or RLE {\"counts\": ..., \"size\": "
                       "[height, width]}")


def _segmentation(entry: dict, name: str) -> Mask | None:
    """An annotation's `segmentation` as a mask; None when it has none (absent or [])."""
    value = entry.get("segmentation")
    if value is None or value == []:
        return None
    shown = json.dumps(value)[:60]
    if isinstance(value, list):
        if not all(isinstance(ring, list) and all(_is_number(v) for v in ring) for ring in value):
            raise UserError(f"{name} has 'segmentation': {shown}..., {_SEGMENTATION_SHAPE}")
        return Polygons(tuple(tuple(float(v) for v in ring) for ring in value))
    if not isinstance(value, dict):
        raise UserError(f"{name} has 'segmentation': {shown}, {_SEGMENTATION_SHAPE}")
    size, counts = value.get("size"), value.get("counts")
    if not (isinstance(size, list) and len(size) == 2 and all(_is_int(v) and v > 0 for v in size)):
        raise UserError(f"{name} has an RLE 'segmentation' whose 'size' is {json.dumps(size)}, expected "
                        "[height, width] in pixels")
    if isinstance(counts, str):
        return RunLength(counts, size[0], size[1])
    if isinstance(counts, list) and all(_is_int(v) and v >= 0 for v in counts):
        return RunLength(tuple(counts), size[0], size[1])
    raise UserError(f"{name} has an RLE 'segmentation' whose 'counts' is {json.dumps(counts)[:60]}, expected a "
                    "string (compressed RLE) or a list of run lengths")


def read_coco(path: str, image_dir: str | None, include_masks: bool = False) -> Dataset:
    doc = load_json(path, "COCO annotations")
    if not isinstance(doc, dict):
        raise UserError(f"{path}: not a COCO instances file (the top level is not an object)")
    images = _list(doc, "images", path)
    annotations = _list(doc, "annotations", path, required=False)
    categories = _list(doc, "categories", path)

    category_names: dict[int, str] = {}
    first_use: dict[str, int] = {}
    for index in range(len(categories)):
        entry = _entry(categories, index, "categories", path, {"id": "int", "name": "str"})
        cid, name = entry["id"], entry["name"]
        if cid < 0:
            raise UserError(f"{path}: categories[{index}] '{name}' has negative id {cid}; ids start at 1")
        if cid in category_names:
            raise UserError(f"{path}: categories[{index}] '{name}' has id {cid}, already used by "
                            f"'{category_names[cid]}'; give each category a unique id")
        if name in first_use:
            raise UserError(f"{path}: categories[{index}] repeats the name '{name}' of categories[{first_use[name]}]; "
                            "give each category a unique name")
        category_names[cid] = name
        first_use[name] = index

    image_entries: dict[int, dict] = {}
    for index in range(len(images)):
        entry = _entry(images, index, "images", path, {"id": "int", "file_name": "str"})
        if entry["id"] in image_entries:
            raise UserError(f"{path}: images[{index}] repeats image id {entry['id']}; give each image a unique id")
        for field in ("width", "height"):
            if field in entry and not (_is_int(entry[field]) and entry[field] >= 0):
                raise UserError(f"{path}: images[{index}] has '{field}': {json.dumps(entry[field])}, "
                                "expected a whole number of pixels")
        image_entries[entry["id"]] = entry

    objects: dict[int, list[ObjectAnnotation]] = {image_id: [] for image_id in image_entries}
    for index in range(len(annotations)):
        entry = _entry(annotations, index, "annotations", path, {"image_id": "int", "category_id": "int"})
        name = f"{path}: annotations[{index}]"
        bbox = entry.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
            raise UserError(f"{name} has 'bbox': {json.dumps(bbox)}, expected [x, y, width, height] in pixels")
        if entry["image_id"] not in image_entries:
            raise UserError(f"{name} refers to image_id {entry['image_id']}, which 'images' does not list; "
                            "add the image or remove the annotation")
        cid = entry["category_id"]
        if cid not in category_names:
            raise UserError(f"{name} has category_id {cid}, which 'categories' does not list; "
                            "add the category or fix the id")
        if cid == 0:
            raise UserError(f"{name} has category_id 0, the background class; number the categories from 1")
        crowd = entry.get("iscrowd", 0)
        if crowd not in (0, 1):
            raise UserError(f"{name} has 'iscrowd': {json.dumps(crowd)}, expected 0 or 1")
        area = entry.get("area")
        if area is not None and not _is_number(area):
            raise UserError(f"{name} has 'area': {json.dumps(area)}, expected a number")
        label = f"annotation id {entry['id']}" if "id" in entry else f"annotations[{index}]"
        objects[entry["image_id"]].append(ObjectAnnotation(
            where=label, box=geometry.from_xywh(*(float(v) for v in bbox)), class_name=category_names[cid],
            is_crowd=bool(crowd), area=float(area) if area is not None else None,
            mask=_segmentation(entry, name) if include_masks else None))

    root = image_dir or os.path.dirname(path)
    records = []
    for image_id, entry in image_entries.items():
        width, height = entry.get("width", 0), entry.get("height", 0)
        records.append(ImageRecord(
            where=f"{path}: image id {image_id} ('{entry['file_name']}')",
            filename=entry["file_name"],
            source_id=str(image_id),
            objects=tuple(objects[image_id]),
            units=Units.PIXELS,
            image_path=os.path.join(root, entry["file_name"]),
            declared_size=(width, height) if width and height else None,
        ))
    # A category 0 (some exporters list the dataset itself there) cannot be in use: it was
    # rejected above. Left out, it does not become a class.
    declared = tuple((cid, name) for cid, name in sorted(category_names.items()) if cid != 0)
    return Dataset(tuple(records), source=path, declared_classes=declared or None,
                   classes_origin="COCO categories")
