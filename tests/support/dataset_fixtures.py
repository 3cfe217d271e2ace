"""Tiny detection datasets in every supported annotation format, written by the tests.

Each fixture is described once (`Image` / `Obj`, pixel corners) and written as COCO JSON,
Pascal VOC XML, CSV, VoTT JSON / CSV / TFRecords, so a test can check that every format gives
the same records. Images are real, small JPEGs (or PNGs) of seeded synthetic backgrounds.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import json
import os
import urllib.parse
from typing import Sequence

import numpy as np
from PIL import Image as PILImage

from od_tools.common import synthetic


@dataclasses.dataclass(frozen=True)
class Obj:
    name: str
    box: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax in pixels
    crowd: bool = False


@dataclasses.dataclass(frozen=True)
class Image:
    file_name: str
    width: int
    height: int
    objects: tuple[Obj, ...]
    image_format: str = "JPEG"


def image_bytes(width: int, height: int, seed: int = 0, image_format: str = "JPEG") -> bytes:
    """A real picture (od_tools' synthetic background, no shapes), encoded; the same for a seed."""
    pixels = synthetic.muted_background(np.random.default_rng(seed), height, width)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, image_format, **({"quality": 90} if image_format == "JPEG" else {}))
    return buffer.getvalue()


def write_images(folder: str, images: Sequence[Image]) -> None:
    os.makedirs(folder, exist_ok=True)
    for index, image in enumerate(images):
        path = os.path.join(folder, image.file_name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(image_bytes(image.width, image.height, seed=index, image_format=image.image_format))


def sample_images(count: int = 3, prefix: str = "img") -> list[Image]:
    """A few images of different sizes with 0-3 objects of classes 'cat' and 'dog'."""
    rng = np.random.default_rng(7)
    images = []
    for index in range(count):
        width, height = int(rng.integers(48, 96)), int(rng.integers(40, 80))
        objects = []
        for k in range(index % 4):
            x0, y0 = float(rng.integers(0, width // 2)), float(rng.integers(0, height // 2))
            x1, y1 = x0 + float(rng.integers(8, width // 2)), y0 + float(rng.integers(8, height // 2))
            objects.append(Obj("cat" if (index + k) % 2 else "dog", (x0 + 0.5, y0, x1, y1 - 0.25)))
        images.append(Image(f"{prefix}{index:03d}.jpg", width, height, tuple(objects)))
    return images


def class_names(images: Sequence[Image]) -> list[str]:
    return sorted({o.name for image in images for o in image.objects})


def write_coco(folder: str, images: Sequence[Image], categories: Sequence[str] | None = None,
               write_image_files: bool = True) -> str:
    """instances.json in `folder`, images in folder/images; category ids in `categories` order."""
    names = list(categories) if categories is not None else class_names(images)
    if write_image_files:
        write_images(os.path.join(folder, "images"), images)
    document = {"images": [], "annotations": [],
                "categories": [{"id": i + 1, "name": n, "supercategory": "thing"} for i, n in enumerate(names)]}
    for index, image in enumerate(images):
        image_id = 100 + index
        document["images"].append({"id": image_id, "file_name": image.file_name, "width": image.width,
                                   "height": image.height})
        for obj in image.objects:
            x0, y0, x1, y1 = obj.box
            document["annotations"].append({
                "id": len(document["annotations"]) + 1, "image_id": image_id,
                "category_id": names.index(obj.name) + 1, "bbox": [x0, y0, x1 - x0, y1 - y0],
                "area": (x1 - x0) * (y1 - y0) * 0.8, "iscrowd": int(obj.crowd)})
    path = os.path.join(folder, "instances.json")
    with open(path, "w") as f:
        json.dump(document, f)
    return path


def voc_xml(image: Image) -> str:
    objects = "".join(
        f"<object><name>{o.name}</name><difficult>0</difficult><bndbox><xmin>{o.box[0]}</xmin>"
        f"<ymin>{o.box[1]}</ymin><xmax>{o.box[2]}</xmax><ymax>{o.box[3]}</ymax></bndbox></object>"
        for o in image.objects)
    return (f"<annotation><folder>JPEGImages</folder><filename>{image.file_name}</filename>"
            f"<size><width>{image.width}</width><height>{image.height}</height><depth>3</depth></size>"
            f"{objects}</annotation>")


def write_voc(folder: str, images: Sequence[Image]) -> str:
    """folder/Annotations/*.xml and folder/JPEGImages/*: the VOC layout. Returns the XML folder."""
    annotations = os.path.join(folder, "Annotations")
    os.makedirs(annotations, exist_ok=True)
    write_images(os.path.join(folder, "JPEGImages"), images)
    for image in images:
        with open(os.path.join(annotations, os.path.splitext(image.file_name)[0] + ".xml"), "w") as f:
            f.write(voc_xml(image))
    return annotations


def write_csv(folder: str, images: Sequence[Image], vott: bool = False, name: str = "labels.csv") -> str:
    """The tutorials' CSV (filename,width,height,class,...) or VoTT's (image,...,label)."""
    write_images(folder, images)
    path = os.path.join(folder, name)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        if vott:
            writer.writerow(["image", "xmin", "ymin", "xmax", "ymax", "label"])
        else:
            writer.writerow(["filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax"])
        for image in images:
            if not image.objects and not vott:
                writer.writerow([image.file_name, image.width, image.height, "", "", "", "", ""])
            for o in image.objects:
                if vott:
                    writer.writerow([image.file_name, *o.box, o.name])
                else:
                    writer.writerow([image.file_name, image.width, image.height, o.name, *o.box])
    return path


def write_vott_json(folder: str, images: Sequence[Image], tags: Sequence[str]) -> str:
    """vott-json-export/<project>-export.json with the images beside it."""
    export = os.path.join(folder, "vott-json-export")
    write_images(export, images)
    assets = {}
    for index, image in enumerate(images):
        asset_id = hashlib.md5(image.file_name.encode()).hexdigest()
        regions = [{"id": f"r{index}_{k}", "type": "RECTANGLE", "tags": [o.name],
                    "boundingBox": {"height": o.box[3] - o.box[1], "width": o.box[2] - o.box[0],
                                    "left": o.box[0], "top": o.box[1]},
                    "points": [{"x": o.box[0], "y": o.box[1]}, {"x": o.box[2], "y": o.box[3]}]}
                   for k, o in enumerate(image.objects)]
        assets[asset_id] = {
            "asset": {"format": "jpg", "id": asset_id, "name": image.file_name,
                      "path": f"file:/nonexistent/source/{image.file_name}",
                      "size": {"width": image.width, "height": image.height}, "state": 2, "type": 1},
            "regions": regions, "version": "2.2.0"}
    document = {"name": "Test Project", "securityToken": "Test Project Token",
                "tags": [{"name": t, "color": "#5db300"} for t in tags], "assets": assets, "version": "2.2.0"}
    path = os.path.join(export, "Test-Project-export.json")
    with open(path, "w") as f:
        json.dump(document, f, indent=4)
    return path


VOTT_SOURCE = "C:/Users/annotator/My Pictures/street set"  # the annotating machine's source folder


def _vott_asset(image: Image, source: str) -> dict:
    """An asset as VoTT 2.x records it: id = md5 of its file URL, the URL percent-encoded."""
    url = "file:" + urllib.parse.quote(f"{source}/{image.file_name}", safe="/:")
    return {"format": image.file_name.rsplit(".", 1)[-1], "id": hashlib.md5(url.encode()).hexdigest(),
            "name": os.path.basename(image.file_name), "path": url,
            "size": {"width": image.width, "height": image.height}, "state": 2, "type": 1}


def _vott_regions(image: Image, index: int, polygons: bool = False) -> list[dict]:
    regions = []
    for k, o in enumerate(image.objects):
        x0, y0, x1, y1 = o.box
        if polygons and k == 0:  # a diamond inside the box, touching all four sides
            points = [{"x": (x0 + x1) / 2, "y": y0}, {"x": x1, "y": (y0 + y1) / 2},
                      {"x": (x0 + x1) / 2, "y": y1}, {"x": x0, "y": (y0 + y1) / 2}]
            regions.append({"id": f"p{index}_{k}", "type": "POLYGON", "tags": [o.name], "points": points,
                            "boundingBox": {"height": y1 - y0, "width": x1 - x0, "left": x0, "top": y0}})
            continue
        regions.append({"id": f"r{index}_{k}", "type": "RECTANGLE", "tags": [o.name],
                        "boundingBox": {"height": y1 - y0, "width": x1 - x0, "left": x0, "top": y0},
                        "points": [{"x": x0, "y": y0}, {"x": x1, "y": y0}, {"x": x1, "y": y1}, {"x": x0, "y": y1}]})
    return regions


def encrypted_block(secret: str) -> dict:
    """providerOptions as VoTT saves them: encrypted with the project's security token, which
    VoTT keeps in its own settings, never in the project. A reader must leave it alone."""
    sealed = json.dumps({"ciphertext": hashlib.sha256(secret.encode()).hexdigest() * 3, "iv": "00" * 12})
    return {"encrypted": base64.b64encode(sealed.encode()).decode()}


def write_vott_project(folder: str, images: Sequence[Image], tags: Sequence[str], polygons: bool = False,
                       video_frame: bool = False, secret: str = "connection-secret",
                       recorded_source: str = VOTT_SOURCE, encrypted: dict | None = None) -> str:
    """A VoTT 2.x project as its target folder holds it: `<name>.vott` (tags, encrypted
    connections, the asset list) and one `<asset id>-asset.json` per tagged image (images with
    objects; the others are only visited). The images go to folder/source/, a copy of the
    annotating machine's source folder `recorded_source` (the default: a Windows folder this
    machine lacks). `encrypted` replaces the encrypted connection settings. Returns the target
    folder."""
    target = os.path.join(folder, "target")
    os.makedirs(target, exist_ok=True)
    write_images(os.path.join(folder, "source"), images)
    assets = {}
    for index, image in enumerate(images):
        asset = _vott_asset(image, recorded_source)
        if not image.objects:
            asset["state"] = 1  # visited, never tagged: VoTT writes no asset file
        assets[asset["id"]] = asset
        if image.objects:
            metadata = {"asset": asset, "regions": _vott_regions(image, index, polygons), "version": "2.2.0"}
            with open(os.path.join(target, f"{asset['id']}-asset.json"), "w") as f:
                json.dump(metadata, f, indent=4)
    if video_frame:
        video = {"format": "mp4", "id": "v" * 32, "name": "clip.mp4", "path": f"file:{recorded_source}/clip.mp4",
                 "size": {"width": 64, "height": 48}, "state": 2, "type": 2}
        frame = {**video, "id": "f" * 32, "name": "clip.mp4#t=2.5", "path": f"file:{recorded_source}/clip.mp4#t=2.5",
                 "type": 3, "parent": video, "timestamp": 2.5}
        assets[video["id"]] = video
        metadata = {"asset": frame, "regions": [{"id": "v0", "type": "RECTANGLE", "tags": [tags[0]],
                                                 "boundingBox": {"height": 9, "width": 9, "left": 1, "top": 1},
                                                 "points": []}], "version": "2.2.0"}
        with open(os.path.join(target, f"{frame['id']}-asset.json"), "w") as f:
            json.dump(metadata, f, indent=4)
    sealed = encrypted if encrypted is not None else encrypted_block(secret)
    connection = {"name": "local", "providerType": "localFileSystemProxy", "providerOptions": sealed}
    project = {
        "name": "Street Project", "securityToken": "Street Project Token",
        "sourceConnection": {**connection, "id": "src0"}, "targetConnection": {**connection, "id": "tgt0"},
        "videoSettings": {"frameExtractionRate": 15},
        "tags": [{"name": t, "color": "#5db300"} for t in tags],
        "id": "proj0", "activeLearningSettings": {"autoDetect": False, "predictTag": True, "modelPathType": "coco"},
        "exportFormat": {"providerType": "vottJson", "providerOptions": sealed},
        "version": "2.2.0", "lastVisitedAssetId": next(iter(assets)), "assets": assets,
    }
    with open(os.path.join(target, "Street Project.vott"), "w") as f:
        json.dump(project, f, indent=4)
    return target


def vott_example(image: Image, data: bytes, tags: Sequence[str], overshoot: float = 0.0) -> bytes:
    """A tf.Example as VoTT's TFRecord export writes it: normalized boxes, 0-based tag indexes,
    the file name as source id, a base64 sha256, the extension as format."""
    import tensorflow as tf

    def floats(values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    def strings(values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    boxes = [(o.box[0] / image.width - overshoot, o.box[1] / image.height - overshoot,
              o.box[2] / image.width + overshoot, o.box[3] / image.height + overshoot) for o in image.objects]
    feature = {
        "image/height": ints([image.height]), "image/width": ints([image.width]),
        "image/filename": strings([image.file_name.encode()]), "image/source_id": strings([image.file_name.encode()]),
        "image/key/sha256": strings([base64.b64encode(hashlib.sha256(data).digest())]),
        "image/encoded": strings([data]), "image/format": strings([b"jpg"]),
        "image/object/bbox/xmin": floats([b[0] for b in boxes]),
        "image/object/bbox/ymin": floats([b[1] for b in boxes]),
        "image/object/bbox/xmax": floats([b[2] for b in boxes]),
        "image/object/bbox/ymax": floats([b[3] for b in boxes]),
        "image/object/class/text": strings([o.name.encode() for o in image.objects]),
        "image/object/class/label": ints([list(tags).index(o.name) for o in image.objects]),
        "image/object/difficult": ints([0] * len(boxes)), "image/object/truncated": ints([0] * len(boxes)),
        "image/object/view": strings([b"Unspecified"] * len(boxes)),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_vott_tfrecords(folder: str, images: Sequence[Image], tags: Sequence[str], overshoot: float = 0.0,
                         label_map: bool = True) -> str:
    """<project>-TFRecords-export/: one .tfrecord per image and tf_label_map.pbtxt."""
    import tensorflow as tf

    export = os.path.join(folder, "Test-Project-TFRecords-export")
    os.makedirs(export, exist_ok=True)
    for index, image in enumerate(images):
        data = image_bytes(image.width, image.height, seed=index)
        with tf.io.TFRecordWriter(os.path.join(export, os.path.splitext(image.file_name)[0] + ".tfrecord")) as w:
            w.write(vott_example(image, data, tags, overshoot))
    if label_map:
        with open(os.path.join(export, "tf_label_map.pbtxt"), "w") as f:
            f.write("".join(f'item {{\n  id: {i + 1}\n  name: "{t}"\n}}\n' for i, t in enumerate(tags)))
    return export


def files_in(folder: str) -> list[str]:
    """Every file under `folder`, relative, sorted (to prove what a run did or did not write)."""
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, _, names in os.walk(folder) for name in names)
