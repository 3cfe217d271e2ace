"""Pascal VOC XML, as LabelImg and the VOC datasets write it (one file per image).

XML is parsed with defusedxml: an entity declaration (an external entity that would read a
local file or URL, or a "billion laughs" expansion) is rejected with a one-line error and never
resolved. Pixel boxes are divided by the image size as the OD API's own VOC converter does.
"""

from __future__ import annotations

import os
from xml.etree.ElementTree import Element, ParseError

import defusedxml
from defusedxml import ElementTree as SafeElementTree

from od_tools.common.errors import UserError
from od_tools.datasets.annotations.geometry import Box
from od_tools.datasets.formats.paths import expand
from od_tools.datasets.annotations.image_record import Dataset, ImageRecord, ObjectAnnotation, Units


def _parse_xml(path: str) -> Element:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise UserError(f"{path}: cannot read the annotation ({e.strerror})") from e
    try:
        return SafeElementTree.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.EntitiesForbidden as e:
        raise UserError(f"{path}: declares the XML entity '{e.name}', which is refused for safety (never "
                        "expanded or fetched); remove the <!DOCTYPE> block: VOC annotations need no entities") from e
    except (defusedxml.ExternalReferenceForbidden, defusedxml.DTDForbidden, defusedxml.NotSupportedError) as e:
        raise UserError(f"{path}: refers to an external XML resource ({e}), which is refused for safety; "
                        "remove the <!DOCTYPE> block") from e
    except ParseError as e:
        line, column = e.position
        raise UserError(f"{path}:{line}:{column}: not well-formed XML ({str(e).split(':')[0]}); fix the file") from e


def _text(parent: Element, tag: str) -> str | None:
    child = parent.find(tag)
    return child.text.strip() if child is not None and child.text is not None else None


def _number(parent: Element, tag: str, where: str) -> float:
    value = _text(parent, tag)
    if value is None:
        raise UserError(f"{where} has no <{tag}>; every <bndbox> needs xmin, ymin, xmax and ymax")
    try:
        return float(value)
    except ValueError as e:
        raise UserError(f"{where} has <{tag}>{value}</{tag}>, expected a number of pixels") from e


def _flag(parent: Element, tag: str) -> bool:
    return (_text(parent, tag) or "0") not in ("0", "")


def _size(root: Element, path: str) -> tuple[int, int] | None:
    size = root.find("size")
    if size is None:
        return None
    values = []
    for tag in ("width", "height"):
        text = _text(size, tag)
        try:
            values.append(int(float(text)) if text else 0)
        except ValueError as e:
            raise UserError(f"{path}: <size><{tag}>{text}</{tag}> is not a number of pixels") from e
    # LabelImg writes 0 when it could not read the size: treat it as not given.
    return (values[0], values[1]) if values[0] > 0 and values[1] > 0 else None


def _image_candidates(root: Element, path: str, filename: str, image_dir: str | None) -> list[str]:
    if image_dir:
        return [os.path.join(image_dir, filename)]
    here = os.path.dirname(path)
    candidates = [os.path.join(here, filename), os.path.join(here, os.pardir, "JPEGImages", filename)]
    recorded = _text(root, "path")
    if recorded:
        candidates.append(recorded)
    return candidates


def read_annotation(path: str, image_dir: str | None, source_id: int) -> ImageRecord:
    root = _parse_xml(path)
    if root.tag != "annotation":
        raise UserError(f"{path}: the root element is <{root.tag}>, expected <annotation> (Pascal VOC)")
    filename = _text(root, "filename")
    if not filename:
        raise UserError(f"{path}: no <filename>; add the image's file name")
    objects = []
    for index, element in enumerate(root.findall("object")):
        where = f"{path}: object {index}"
        box = element.find("bndbox")
        if box is None:
            raise UserError(f"{where} has no <bndbox>; add one or remove the object")
        corners = Box(*(_number(box, tag, where) for tag in ("xmin", "ymin", "xmax", "ymax")))
        name = element.find("name")
        if name is None:
            raise UserError(f"{where} has no <name>; add the class name")
        objects.append(ObjectAnnotation(
            where=f"object {index}", box=corners, class_name=(name.text or "").strip() or None,
            difficult=_flag(element, "difficult")))
    candidates = _image_candidates(root, path, filename, image_dir)
    found = next((c for c in candidates if os.path.isfile(c)), candidates[0])
    hint = "" if image_dir else " (also looked in ../JPEGImages and the <path>; set --image_dir)"
    return ImageRecord(
        where=path, filename=filename, source_id=str(source_id), objects=tuple(objects), units=Units.PIXELS,
        image_path=found, declared_size=_size(root, path), missing_hint=hint)


def read_voc(annotations: str, image_dir: str | None) -> Dataset:
    files = expand(annotations, (".xml",), "Pascal VOC annotations")
    records = tuple(read_annotation(path, image_dir, index + 1) for index, path in enumerate(files))
    return Dataset(records, source=annotations)
