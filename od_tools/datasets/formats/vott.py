"""VoTT (Visual Object Tagging Tool) 2.x: its project folder and its JSON, CSV and TFRecord exports.

* Project folder (the project's target connection): `<project>.vott` with the project's `tags`
  (the label map, in order), and one `<asset id>-asset.json` per tagged image, holding the
  `asset` (`name`, `path` on the annotating machine, `size`) and its `regions`. The connection
  settings in the .vott file are encrypted with a key that stays in VoTT's own settings: they
  are never read. Images are found at the recorded path, else under --image_dir (default: the
  project folder) by the longest tail of that path, so a copy of the source folder works.
* JSON (`vott-json-export/<project>-export.json`): the project with `tags` and `assets`, each
  asset with `regions`, images beside the JSON.
* Regions (both): `boundingBox {left, top, width, height}` in pixels, `tags` name the classes
  (one object per tag). RECTANGLE and SQUARE regions are their box; POLYGON and POLYLINE
  regions become the box around their `points`, flagged; with masks asked for, a POLYGON's
  points are its mask too (and it is not flagged).
* CSV (`vott-csv-export/<project>-export.csv`): `image,xmin,ymin,xmax,ymax,label` in pixels.
* TFRecords (`<project>-TFRecords-export/*.tfrecord`, one per image, and `tf_label_map.pbtxt`):
  normalized boxes that reach slightly past [0, 1] for boxes drawn to the image edge (clipped
  and counted by validation), 0-based tag indexes as class labels (relabelled from the
  `tf_label_map.pbtxt` beside them), and file names as source ids (renumbered).
"""

from __future__ import annotations

import dataclasses
import os
import re
import urllib.parse
from typing import Any

from od_tools.common.errors import UserError
from od_tools.datasets.annotations import geometry
from od_tools.datasets.formats.coco_json import load_json
from od_tools.datasets.annotations.masks import Polygons
from od_tools.datasets.formats.csv_table import read_csv
from od_tools.datasets.formats.paths import expand
from od_tools.datasets.annotations.image_record import Dataset, ImageRecord, ObjectAnnotation, ReaderIssue, Units
from od_tools.datasets.formats.tfrecords import is_tfrecord_name, read_tfrecords

# VoTT's AssetType: a video is a container whose frames are separate assets (VideoFrame).
VIDEO_ASSET, VIDEO_FRAME_ASSET, TFRECORD_ASSET = 2, 3, 4
PROJECT_SUFFIX = ".vott"
ASSET_SUFFIX = "-asset.json"
OUTLINE_REGIONS = ("POLYGON", "POLYLINE")  # regions whose box is the one around their points


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _points_box(region: dict) -> geometry.Box | None:
    points = region.get("points")
    if isinstance(points, list) and points and all(isinstance(p, dict) and _number(p.get("x")) and _number(p.get("y"))
                                                   for p in points):
        xs, ys = [float(p["x"]) for p in points], [float(p["y"]) for p in points]
        return geometry.Box(min(xs), min(ys), max(xs), max(ys))
    return None


def _region_box(region: dict, where: str) -> geometry.Box:
    box = region.get("boundingBox")
    outline = _points_box(region)
    if region.get("type") in OUTLINE_REGIONS and outline is not None:
        return outline
    if isinstance(box, dict) and all(_number(box.get(k)) for k in ("left", "top", "width", "height")):
        return geometry.from_xywh(float(box["left"]), float(box["top"]), float(box["width"]), float(box["height"]))
    if outline is not None:
        return outline
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


def _project_tags(document: Any, path: str) -> list[str]:
    """The project's tags, in order: the label map."""
    tags = _tag_names(document.get("tags", []), path)
    duplicates = sorted({t for t in tags if tags.count(t) > 1})
    if duplicates:
        raise UserError(f"{path}: the project repeats the tag '{duplicates[0]}'; give each tag a unique name")
    return tags


def _polygon(region: dict) -> Polygons | None:
    """A POLYGON region's points as a one-ring mask."""
    if region.get("type") != "POLYGON" or _points_box(region) is None:
        return None
    return Polygons((tuple(float(v) for point in region["points"] for v in (point["x"], point["y"])),))


def _regions(metadata: dict, where: str,
             include_masks: bool) -> tuple[tuple[ObjectAnnotation, ...], tuple[ReaderIssue, ...]]:
    """An asset's regions as objects (one per tag; an untagged region is an object without a
    class), and a flag for each region that was an outline rather than a box (a polygon that
    is the object's mask is no such outline)."""
    regions = metadata.get("regions", [])
    if not isinstance(regions, list):
        raise UserError(f"{where}: 'regions' is not a list; re-export from VoTT")
    objects: list[ObjectAnnotation] = []
    issues: list[ReaderIssue] = []
    for index, region in enumerate(regions):
        region_where = f"{where} region {index}"
        if not isinstance(region, dict):
            raise UserError(f"{region_where} is not an object; re-export from VoTT")
        box = _region_box(region, region_where)
        label = f"region {region.get('id', index)}"
        mask = _polygon(region) if include_masks else None
        if region.get("type") in OUTLINE_REGIONS and mask is None:
            issues.append(ReaderIssue("box_from_polygon", f"{label} is a {region['type']}; its bounding box {box} "
                                                          "is the object"))
        names = _tag_names(region.get("tags", []), region_where)
        objects.extend(ObjectAnnotation(where=label, box=box, class_name=name, mask=mask) for name in names)
        if not names:
            objects.append(ObjectAnnotation(where=label, box=box, class_name=None, mask=mask))
    return tuple(objects), tuple(issues)


def _declared_size(asset: dict) -> tuple[int, int] | None:
    size = asset.get("size")
    if isinstance(size, dict) and _number(size.get("width")) and _number(size.get("height")) \
            and size["width"] > 0 and size["height"] > 0:
        return int(size["width"]), int(size["height"])
    return None


def _asset(metadata: Any, where: str) -> dict:
    asset = metadata.get("asset") if isinstance(metadata, dict) else None
    if not isinstance(asset, dict) or not isinstance(asset.get("name"), str):
        raise UserError(f"{where} has no asset with a 'name'; re-export from VoTT")
    return asset


def _recorded_path(asset: dict) -> str | None:
    """The asset's path on the annotating machine, as a plain path (`file:C:/x%20y/a.jpg` ->
    `C:/x y/a.jpg`; a URL keeps only its path: never its query, which may hold a token)."""
    recorded = asset.get("path")
    if not isinstance(recorded, str) or not recorded:
        return None
    if recorded.lower().startswith(("http://", "https://")):
        return urllib.parse.unquote(urllib.parse.urlsplit(recorded).path)
    if recorded.lower().startswith("file:"):
        recorded = recorded[len("file:"):]
    return urllib.parse.unquote(recorded)


def _tails(path: str) -> list[str]:
    """`C:/Users/a/imgs/sub/x.jpg` -> `Users/a/imgs/sub/x.jpg`, ..., `sub/x.jpg`, `x.jpg`: the path
    relative to each folder it passes through, longest first (drive letters, `.` and `..` left
    out, so a tail never leads out of the folder it is looked for in)."""
    parts = [p for p in re.split(r"[\\/]+", path) if p not in ("", ".", "..") and not re.fullmatch(r"[A-Za-z]:", p)]
    return [os.path.join(*parts[i:]) for i in range(len(parts))]


def _image_path(asset: dict, json_path: str, image_dir: str | None) -> str:
    """An export's image: under --image_dir, else beside the JSON, else at the recorded path."""
    name = asset["name"]
    if image_dir:
        return os.path.join(image_dir, name)
    beside = os.path.join(os.path.dirname(json_path), name)
    recorded = _recorded_path(asset)
    if not os.path.isfile(beside) and recorded and os.path.isfile(recorded):
        return recorded
    return beside


def _project_image(asset: dict, search_dir: str) -> tuple[str, str]:
    """A project's image: at the recorded path if this machine has it, else the longest tail of
    that path that exists under `search_dir`. (path, hint for when it is missing)."""
    recorded = _recorded_path(asset)
    if recorded and os.path.isfile(recorded):
        return recorded, ""
    tails = _tails(recorded) if recorded else [asset["name"]]
    found = next((os.path.join(search_dir, tail) for tail in tails if os.path.isfile(os.path.join(search_dir, tail))),
                 os.path.join(search_dir, asset["name"]))
    return found, (f" (VoTT recorded {recorded or 'no path'}; no tail of it is under {search_dir}); point --image_dir "
                   "at a copy of the project's source folder")


def read_vott_json(path: str, image_dir: str | None, include_masks: bool = False) -> Dataset:
    doc = load_json(path, "VoTT JSON export")
    assets = doc.get("assets") if isinstance(doc, dict) else None
    if not isinstance(assets, dict):
        raise UserError(f"{path}: not a VoTT JSON export (no 'assets' object); export the project with "
                        "the 'VoTT JSON' format")
    tags = _project_tags(doc, path)
    records = []
    for key, metadata in assets.items():
        where = f"{path}: assets['{key}']"
        asset = _asset(metadata, where)
        if asset.get("type") == VIDEO_ASSET:
            continue
        objects, issues = _regions(metadata, where, include_masks)
        records.append(ImageRecord(
            where=f"{path}: asset '{asset['name']}'", filename=asset["name"], source_id=str(len(records) + 1),
            objects=objects, units=Units.PIXELS, image_path=_image_path(asset, path, image_dir),
            declared_size=_declared_size(asset), issues=issues))
    declared_classes = tuple((i + 1, name) for i, name in enumerate(tags)) or None
    return Dataset(tuple(records), source=path, declared_classes=declared_classes,
                   classes_origin="VoTT project tags")


def _project_record(path: str, search_dir: str, include_masks: bool) -> tuple[str, ImageRecord] | None:
    """One *-asset.json as (recorded path, record); None for a whole video (its frames count)."""
    metadata = load_json(path, "VoTT asset file")
    asset = _asset(metadata, path)
    kind = asset.get("type")
    if kind == VIDEO_ASSET:
        return None
    objects, issues = _regions(metadata, path, include_masks)
    image_path, hint = _project_image(asset, search_dir)
    if kind == VIDEO_FRAME_ASSET:
        issues += (ReaderIssue("image_missing", "a video frame: a project folder holds no frame images; export "
                                                "the project from VoTT (VoTT JSON export) to get them"),)
    elif kind == TFRECORD_ASSET:
        issues += (ReaderIssue("image_unsupported", "a TFRecord asset: convert the TFRecord itself with "
                                                    "--input_format=tfrecord"),)
    record = ImageRecord(where=f"{path} ('{asset['name']}')", filename=asset["name"], source_id="",
                         objects=objects, units=Units.PIXELS, image_path=image_path,
                         declared_size=_declared_size(asset), issues=issues, missing_hint=hint)
    return _recorded_path(asset) or asset["name"], record


def read_vott_project(project_path: str, image_dir: str | None, include_masks: bool = False) -> Dataset:
    """A VoTT 2.x project folder: the .vott file's tags and every *-asset.json beside it."""
    document = load_json(project_path, "VoTT project")
    if not isinstance(document, dict) or "tags" not in document:
        raise UserError(f"{project_path}: not a VoTT project file (no 'tags'); point --annotations at the folder "
                        "VoTT saves the project in (its target connection)")
    tags = _project_tags(document, project_path)
    folder = os.path.dirname(project_path) or "."
    asset_files = sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(ASSET_SUFFIX))
    if not asset_files:
        raise UserError(f"{folder}: the VoTT project has no *{ASSET_SUFFIX} files (VoTT writes one per tagged image); "
                        "tag images in VoTT first, or point --annotations at an export")
    found = [entry for path in asset_files
             if (entry := _project_record(path, image_dir or folder, include_masks)) is not None]
    records = tuple(dataclasses.replace(record, source_id=str(index + 1))
                    for index, (_, record) in enumerate(sorted(found, key=lambda entry: entry[0])))
    declared_classes = tuple((i + 1, name) for i, name in enumerate(tags)) or None
    return Dataset(records, source=project_path, declared_classes=declared_classes,
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


def _project_file(annotations: str) -> str | None:
    """The .vott file named, or the one in the folder named; None if neither."""
    if annotations.lower().endswith(PROJECT_SUFFIX) and os.path.isfile(annotations):
        return annotations
    if not os.path.isdir(annotations):
        return None
    names = os.listdir(annotations)
    projects = sorted(n for n in names if n.lower().endswith(PROJECT_SUFFIX))
    if len(projects) > 1:
        raise UserError(f"--annotations={annotations}: holds several VoTT projects ({', '.join(projects[:3])}); "
                        "point it at one .vott file")
    if projects:
        return os.path.join(annotations, projects[0])
    if any(n.endswith(ASSET_SUFFIX) for n in names):
        raise UserError(f"--annotations={annotations}: holds VoTT asset files (*{ASSET_SUFFIX}) but no "
                        f"{PROJECT_SUFFIX} project file, which names the classes; copy it from the project's "
                        "target folder")
    return None


def read_vott(annotations: str, image_dir: str | None, include_masks: bool = False) -> Dataset:
    """A project folder or .vott file, or any of the three exports, told apart by file names:
    a file, a glob, or the export folder."""
    project = _project_file(annotations)
    if project is not None:
        return read_vott_project(project, image_dir, include_masks)
    files = expand(annotations, lambda name: _kind_of(name) is not None,
                   "VoTT project or export (a .vott file, a *-export.json, a *-export.csv or *.tfrecord files)")
    kinds = {_kind_of(os.path.basename(f)) for f in files}
    if len(kinds) != 1:
        raise UserError(f"--annotations={annotations}: holds several kinds of VoTT export "
                        f"({', '.join(sorted(kinds))}); point --annotations at one export file or folder")
    kind = kinds.pop()
    if kind == "json":
        if len(files) > 1:
            raise UserError(f"--annotations={annotations}: holds several JSON files "
                            f"({', '.join(os.path.basename(f) for f in files[:3])}); point it at the *-export.json")
        return read_vott_json(files[0], image_dir, include_masks)
    if kind == "csv":
        return read_csv(annotations, image_dir)
    return read_tfrecords(annotations)
