"""VoTT (Visual Object Tagging Tool) exports: its JSON, CSV and TFRecord formats.

* JSON (`vott-json-export/<project>-export.json`): the project with `tags` and `assets`, each
  asset with `regions` whose `boundingBox {left, top, width, height}` is in pixels and whose
  `tags` name the classes (one object per tag). Images sit beside the JSON.
* CSV (`vott-csv-export/<project>-export.csv`): `image,xmin,ymin,xmax,ymax,label` in pixels.
* TFRecords (`<project>-TFRecords-export/*.tfrecord`, one per image, and `tf_label_map.pbtxt`):
  normalized boxes that reach slightly past [0, 1] for boxes drawn to the image edge (clipped
  and counted by validation), 0-based tag indexes as class labels (relabelled from the
  `tf_label_map.pbtxt` beside them), and file names as source ids (renumbered).
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from od_tools.common.errors import UserError
from od_tools.datasets import geometry
from od_tools.datasets.coco import load_json
from od_tools.datasets.csv_table import read_csv
from od_tools.datasets.paths import expand
from od_tools.datasets.records import Dataset, ImageRecord, ObjectAnnotation, Units
from od_tools.datasets.tfrecords import is_tfrecord_name, read_tfrecords

VIDEO_ASSET = 2  # VoTT's AssetType.Video: a container whose frames are separate assets


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _region_box(region: dict, where: str) -> geometry.Box:
    box = region.get("boundingBox")
    if isinstance(box, dict) and all(_number(box.get(k)) for k in ("left", "top", "width", "height")):
        return geometry.from_xywh(float(box["left"]), float(box["top"]), float(box["width"]), float(box["height"]))
    points = region.get("points")
    if isinstance(points, list) and points and all(isinstance(p, dict) and _number(p.get("x")) and _number(p.get("y"))
                                                   for p in points):
        xs, ys = [float(p["x"]) for p in points], [float(p["y"]) for p in points]
        return geometry.Box(min(xs), min(ys), max(xs), max(ys))
    raise UserError(f"{where} has no boundingBox {{left, top, width, height}} or points; re-export from VoTT")


def _tag_names(tags: Any, where: str) -> list[str]:
    if not isinstance(tags, list):
        raise UserError(f"{where}: 'tags' is not a list; re-export from VoTT")
    names = []
    for tag in tags:
        name = tag.get("name") if isinstance(tag, dict) else tag
        if not isinstance(name, str):
            raise UserError(f"{where}: tag {tag!r} has no name; re-export from VoTT")
        names.append(name)
    return names


def _image_path(asset: dict, json_path: str, image_dir: str | None) -> str:
    name = asset["name"]
    if image_dir:
        return os.path.join(image_dir, name)
    beside = os.path.join(os.path.dirname(json_path), name)
    recorded = asset.get("path")
    if not os.path.isfile(beside) and isinstance(recorded, str) and recorded.startswith("file:"):
        local = urllib.parse.unquote(recorded[len("file:"):])
        if os.path.isfile(local):
            return local
    return beside


def read_vott_json(path: str, image_dir: str | None) -> Dataset:
    doc = load_json(path, "VoTT JSON export")
    assets = doc.get("assets") if isinstance(doc, dict) else None
    if not isinstance(assets, dict):
        raise UserError(f"{path}: not a VoTT JSON export (no 'assets' object); export the project with "
                        "the 'VoTT JSON' format")
    tags = _tag_names(doc.get("tags", []), path)
    duplicates = sorted({t for t in tags if tags.count(t) > 1})
    if duplicates:
        raise UserError(f"{path}: the project repeats the tag '{duplicates[0]}'; give each tag a unique name")
    records = []
    for key, metadata in assets.items():
        where = f"{path}: assets['{key}']"
        asset = metadata.get("asset") if isinstance(metadata, dict) else None
        if not isinstance(asset, dict) or not isinstance(asset.get("name"), str):
            raise UserError(f"{where} has no asset with a 'name'; re-export from VoTT")
        if asset.get("type") == VIDEO_ASSET:
            continue
        regions = metadata.get("regions", [])
        if not isinstance(regions, list):
            raise UserError(f"{where}: 'regions' is not a list; re-export from VoTT")
        objects = []
        for index, region in enumerate(regions):
            region_where = f"{where} region {index}"
            if not isinstance(region, dict):
                raise UserError(f"{region_where} is not an object; re-export from VoTT")
            box = _region_box(region, region_where)
            label = f"region {region.get('id', index)}"
            names = _tag_names(region.get("tags", []), region_where)
            objects.extend(ObjectAnnotation(where=label, box=box, class_name=name) for name in names)
            if not names:
                objects.append(ObjectAnnotation(where=label, box=box, class_name=None))
        size = asset.get("size")
        declared = None
        if isinstance(size, dict) and _number(size.get("width")) and _number(size.get("height")) \
                and size["width"] > 0 and size["height"] > 0:
            declared = (int(size["width"]), int(size["height"]))
        records.append(ImageRecord(
            where=f"{path}: asset '{asset['name']}'", filename=asset["name"], source_id=str(len(records) + 1),
            objects=tuple(objects), units=Units.PIXELS, image_path=_image_path(asset, path, image_dir),
            declared_size=declared))
    declared_classes = tuple((i + 1, name) for i, name in enumerate(tags)) or None
    return Dataset(tuple(records), source=path, declared_classes=declared_classes,
                   classes_origin="VoTT project tags")


def _kind_of(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(".json"):
        return "json"
    if lower.endswith(".csv"):
        return "csv"
    if is_tfrecord_name(lower):
        return "tfrecord"
    return None


def read_vott(annotations: str, image_dir: str | None) -> Dataset:
    """Any of the three exports, told apart by file names: a file, a glob, or the export folder."""
    files = expand(annotations, lambda name: _kind_of(name) is not None,
                   "VoTT export (a *-export.json, a *-export.csv or *.tfrecord files)")
    kinds = {_kind_of(os.path.basename(f)) for f in files}
    if len(kinds) != 1:
        raise UserError(f"--annotations={annotations}: holds several kinds of VoTT export "
                        f"({', '.join(sorted(kinds))}); point --annotations at one export file or folder")
    kind = kinds.pop()
    if kind == "json":
        if len(files) > 1:
            raise UserError(f"--annotations={annotations}: holds several JSON files "
                            f"({', '.join(os.path.basename(f) for f in files[:3])}); point it at the *-export.json")
        return read_vott_json(files[0], image_dir)
    if kind == "csv":
        return read_csv(annotations, image_dir)
    return read_tfrecords(annotations)
