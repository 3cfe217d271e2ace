"""Box tables in CSV: one row per object, pixel corners, a header naming the columns.

Reads the spreadsheet format of the OD API tutorials (`filename,width,height,class,xmin,ymin,
xmax,ymax`) and VoTT's CSV export (`image,xmin,ymin,xmax,ymax,label`); columns may come in any
order. Rows of the same image are grouped; a row with a file name and nothing else is an image
without objects.
"""

from __future__ import annotations

import csv
import io
import os

from od_tools.common.errors import UserError
from od_tools.common.files import read_text
from od_tools.datasets.annotations.geometry import Box
from od_tools.datasets.formats.paths import expand
from od_tools.datasets.annotations.image_record import Dataset, ImageRecord, ObjectAnnotation, Units

# Column -> accepted header names (case-insensitive).
ALIASES = {
    "filename": ("filename", "file_name", "image", "file", "path", "image_path"),
    "class": ("class", "label", "class_name", "name"),
    "xmin": ("xmin",), "ymin": ("ymin",), "xmax": ("xmax",), "ymax": ("ymax",),
    "width": ("width",), "height": ("height",),
}
REQUIRED = ("filename", "class", "xmin", "ymin", "xmax", "ymax")
CORNERS = ("xmin", "ymin", "xmax", "ymax")


def _columns(header: list[str], path: str) -> dict[str, int]:
    names = [h.strip().lower() for h in header]
    columns = {}
    for column, aliases in ALIASES.items():
        for alias in aliases:
            if alias in names:
                columns[column] = names.index(alias)
                break
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise UserError(f"{path}:1: the header lacks column(s) {', '.join(missing)}; expected a header like "
                        "filename,width,height,class,xmin,ymin,xmax,ymax (or VoTT's image,xmin,ymin,xmax,ymax,label)")
    return columns


def _number(row: list[str], columns: dict[str, int], column: str, where: str) -> float:
    value = row[columns[column]].strip()
    try:
        return float(value)
    except ValueError as e:
        raise UserError(f"{where}: column '{column}' is '{value}', expected a number of pixels") from e


def read_csv(annotations: str, image_dir: str | None) -> Dataset:
    files = expand(annotations, (".csv",), "CSV annotations")
    images: dict[tuple[str, str], dict] = {}
    for path in files:
        rows = csv.reader(io.StringIO(read_text(path, "CSV annotations", encoding="utf-8-sig"), newline=""))
        header = next(rows, None)
        if header is None:
            continue
        columns = _columns(header, path)
        root = image_dir or os.path.dirname(path)
        for row in rows:
            where = f"{path}:{rows.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) < len(header):
                raise UserError(f"{where}: {len(row)} fields but the header has {len(header)}; fix the row")
            filename = row[columns["filename"]].strip()
            if not filename:
                raise UserError(f"{where}: empty file name; fill in the image's file name")
            image = images.setdefault((root, filename), {"where": where, "objects": [], "size": None,
                                                         "size_line": where})
            if "width" in columns and "height" in columns and row[columns["width"]].strip():
                size = (int(_number(row, columns, "width", where)), int(_number(row, columns, "height", where)))
                if image["size"] is not None and image["size"] != size:
                    raise UserError(f"{where}: '{filename}' is {size[0]}x{size[1]} here but "
                                    f"{image['size'][0]}x{image['size'][1]} at {image['size_line']}; fix the size")
                image["size"], image["size_line"] = size, where
            cells = [row[columns[c]].strip() for c in CORNERS]
            label = row[columns["class"]].strip()
            if not label and not any(cells):
                continue  # an image without objects
            if not all(cells):
                raise UserError(f"{where}: some of xmin, ymin, xmax, ymax are empty; give all four, or none "
                                "(and no class) for an image without objects")
            box = Box(*(_number(row, columns, c, where) for c in CORNERS))
            image["objects"].append(ObjectAnnotation(where=f"line {rows.line_num}", box=box, class_name=label or None))

    records = tuple(
        ImageRecord(where=f"{image['where']} ('{filename}')", filename=filename, source_id=str(index + 1),
                    objects=tuple(image["objects"]), units=Units.PIXELS, image_path=os.path.join(root, filename),
                    declared_size=image["size"] if image["size"] and all(image["size"]) else None)
        for index, ((root, filename), image) in enumerate(images.items()))
    return Dataset(records, source=annotations)
