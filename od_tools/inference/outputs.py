"""What `detect` writes: annotated pictures and videos, COCO results JSON, text lines and crops.

`detections.json` is a COCO results list (what pycocotools' `COCO.loadRes` takes) and
`images.json` the COCO dataset it refers to: its `images` table maps file names to the ids the
results use, `categories` are the model's labels, and for TFRecords `annotations` hold their
ground truth, so `COCO("images.json").loadRes("detections.json")` scores a run directly. Both are
written as the run goes (results are never all held in memory).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path
from typing import IO, Sequence

import numpy as np

from od_tools.evaluation.coco import GroundTruth
from od_tools.evaluation.render import RenderOptions, draw_detections, side_by_side
from od_tools.inference.sources import Kind, Picture
from od_tools.modeling import Detections

DETECTIONS_JSON = "detections.json"
COMPARE_DETECTIONS_JSON = "detections_compare.json"
IMAGES_JSON = "images.json"
AGREEMENT_JSONL = "agreement.jsonl"
LABELS_DIR = "labels"
CROPS_DIR = "crops"
_FOURCC = {".avi": "MJPG", ".mp4": "mp4v", ".mov": "mp4v", ".mkv": "mp4v"}


@dataclasses.dataclass(frozen=True)
class OutputOptions:
    save_images: bool = True
    save_txt: bool = False
    save_crops: bool = False
    line_thickness: int = 0


class JsonList:
    """A JSON list written item by item."""

    def __init__(self, path: Path):
        self._file: IO[str] = open(path, "w", encoding="utf-8")
        self._count = 0
        self._file.write("[")

    def append(self, item: dict) -> None:
        self._file.write(("," if self._count else "") + "\n" + json.dumps(item, separators=(",", ":")))
        self._count += 1

    def close(self) -> None:
        self._file.write("\n]\n" if self._count else "]\n")
        self._file.close()


def xywh(box: np.ndarray, height: int, width: int) -> list[float]:
    """A normalised [ymin, xmin, ymax, xmax] box as COCO's [x, y, width, height] in pixels."""
    ymin, xmin, ymax, xmax = (float(v) for v in box)
    return [round(xmin * width, 3), round(ymin * height, 3), round((xmax - xmin) * width, 3),
            round((ymax - ymin) * height, 3)]


def rle(mask: np.ndarray) -> dict:
    """A bool [H, W] mask as COCO's compressed RLE (pycocotools' own encoder)."""
    from pycocotools import mask as mask_lib

    encoded = mask_lib.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


def coco_results(image_id: int, detections: Detections, height: int, width: int) -> list[dict]:
    """One image's detections as COCO result entries (with RLE segmentations where there are masks)."""
    masks = detections.image_masks(height, width) if detections.masks is not None else None
    results = []
    for k in range(len(detections)):
        entry = {"image_id": image_id, "category_id": int(detections.classes[k]),
                 "bbox": xywh(detections.boxes[k], height, width), "score": round(float(detections.scores[k]), 5)}
        if masks is not None:
            entry["segmentation"] = rle(masks[k])
        results.append(entry)
    return results


def groundtruth_annotations(truth: GroundTruth, first_id: int) -> list[dict]:
    """Ground truth as COCO annotations; areas as the OD API's COCO evaluator takes them."""
    boxes = np.asarray(truth.boxes, np.float32).reshape(-1, 4)
    areas = truth.area if truth.area is not None and len(truth.area) and np.all(np.asarray(truth.area) > 0) else None
    annotations = []
    for k, box in enumerate(boxes):
        bbox = xywh(box, truth.height, truth.width)
        annotations.append({
            "id": first_id + k, "image_id": truth.image_id, "category_id": int(truth.classes[k]), "bbox": bbox,
            "area": float(areas[k]) if areas is not None else bbox[2] * bbox[3],
            "iscrowd": int(truth.is_crowd[k]) if truth.is_crowd is not None and len(truth.is_crowd) else 0})
    return annotations


def yolo_lines(detections: Detections) -> str:
    """`class_id x_center y_center width height score` per box, normalised (YOLO's --save-txt
    layout, with the label map's class ids)."""
    lines = []
    for box, class_id, score in zip(np.asarray(detections.boxes).reshape(-1, 4), detections.classes,
                                    detections.scores):
        ymin, xmin, ymax, xmax = (float(v) for v in box)
        lines.append(f"{int(class_id)} {(xmin + xmax) / 2:.6f} {(ymin + ymax) / 2:.6f} {xmax - xmin:.6f} "
                     f"{ymax - ymin:.6f} {float(score):.5f}")
    return "".join(line + "\n" for line in lines)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "class"


def picture_file(name: str) -> str:
    """Where an annotated picture goes: JPEGs stay JPEG, the rest become PNG; a video frame or a
    TFRecord example (`clip.mp4#000012`) gets a file of its own."""
    if "#" in name:
        return name.replace("#", "_") + ".png"
    stem, ext = os.path.splitext(name)
    return stem + (ext if ext.lower() in (".jpg", ".jpeg") else ".png")


def _save(pixels: np.ndarray, path: Path) -> None:
    """JPEG or PNG by the file name, with OpenCV's encoders (several times faster than PIL's PNG
    one, and they let the model run meanwhile)."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    jpeg = path.suffix.lower() in (".jpg", ".jpeg")
    options = [cv2.IMWRITE_JPEG_QUALITY, 92] if jpeg else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, encoded = cv2.imencode(".jpg" if jpeg else ".png", np.ascontiguousarray(pixels[..., ::-1]), options)
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.write_bytes(encoded.tobytes())


class _Video:
    """An annotated video beside its per-frame JSON lines."""

    def __init__(self, path: Path, fps: float, height: int, width: int):
        import cv2

        path.parent.mkdir(parents=True, exist_ok=True)
        fourcc = cv2.VideoWriter_fourcc(*_FOURCC.get(path.suffix.lower(), "mp4v"))
        self.writer = cv2.VideoWriter(str(path), fourcc, fps, (width, height))
        if not self.writer.isOpened():
            raise OSError(f"OpenCV cannot write {path.suffix} video to {path}")
        self.lines = open(str(path) + ".jsonl", "w", encoding="utf-8")
        self.size = (height, width)

    def add(self, pixels: np.ndarray, record: dict) -> None:
        if pixels.shape[:2] != self.size:  # a side-by-side frame keeps the first frame's size
            from PIL import Image

            pixels = np.asarray(Image.fromarray(pixels).resize(self.size[::-1]))
        self.writer.write(np.ascontiguousarray(pixels[..., ::-1]))
        self.lines.write(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self.writer.release()
        self.lines.close()


class Outputs:
    """Writes everything of one run into `folder` (the run's temporary output folder)."""

    def __init__(self, folder: Path, labels: dict[int, str], options: OutputOptions,
                 titles: Sequence[str] = (), compare: bool = False):
        self.folder, self.labels, self.options, self.titles = folder, labels, options, tuple(titles)
        self.render = RenderOptions(min_score=0.0, max_boxes=10 ** 6, line_thickness=options.line_thickness)
        self.results = JsonList(folder / DETECTIONS_JSON)
        self.compare_results = JsonList(folder / COMPARE_DETECTIONS_JSON) if compare else None
        self.agreement = open(folder / AGREEMENT_JSONL, "w", encoding="utf-8") if compare else None
        self.images: list[dict] = []
        self.annotations: list[dict] = []
        self._video: _Video | None = None
        self._video_input = ""

    def add(self, picture: Picture, found: Sequence[Detections], agreement: dict | None = None) -> None:
        """One picture and its detections (one per model: the run's model, then --compare's)."""
        image = picture.image
        height, width = image.shape[:2]
        image_id = picture.index + 1
        entry = {"id": image_id, "file_name": picture.name, "width": width, "height": height}
        if picture.frame is not None:
            entry.update(video=picture.input.name, frame=picture.frame)
        self.images.append(entry)
        if picture.groundtruth is not None:
            self.annotations += groundtruth_annotations(picture.groundtruth, len(self.annotations) + 1)
        results = coco_results(image_id, found[0], height, width)
        for item in results:
            self.results.append(item)
        if self.compare_results is not None and len(found) > 1:
            for item in coco_results(image_id, found[1], height, width):
                self.compare_results.append(item)
        if self.agreement is not None and agreement is not None:
            self.agreement.write(json.dumps({"image": picture.name, **agreement}) + "\n")
        if self.options.save_txt:
            self._write_text(picture, found[0])
        if self.options.save_crops:
            self._write_crops(picture, found[0])
        if picture.input.kind == Kind.VIDEO:
            self._add_frame(picture, found, agreement, results)
        elif self.options.save_images:
            _save(self._annotated(picture, found, agreement), self.folder / picture_file(picture.name))

    def _annotated(self, picture: Picture, found: Sequence[Detections], agreement: dict | None) -> np.ndarray:
        drawn = [draw_detections(picture.image, f, self.labels, self.render) for f in found]
        if len(drawn) == 1 and picture.groundtruth is None:
            return drawn[0]
        panels = list(zip(drawn, self.titles or [f"model {i + 1}" for i in range(len(drawn))]))
        if picture.groundtruth is not None:
            truth = Detections(picture.groundtruth.boxes, picture.groundtruth.classes,
                               np.ones(len(picture.groundtruth.classes), np.float32))
            panels.append((draw_detections(picture.image, truth, self.labels,
                                           RenderOptions(show_scores=False, line_thickness=self.render.line_thickness)),
                           "ground truth"))
        caption = agreement_line(agreement) if agreement is not None else ""
        return side_by_side(panels, caption)

    def _add_frame(self, picture: Picture, found: Sequence[Detections], agreement: dict | None,
                   results: list[dict]) -> None:
        if self._video_input != picture.input.path:
            self._close_video()
            self._video_input = picture.input.path
            if self.options.save_images:
                first = self._annotated(picture, found, agreement)
                self._video = _Video(self.folder / picture.input.name, picture.fps, *first.shape[:2])
            else:
                self._video = None
        record = {"frame": picture.frame, "time": round(picture.frame / picture.fps, 4) if picture.fps else None,
                  "detections": [{k: v for k, v in r.items() if k != "image_id"} for r in results]}
        if self._video is not None:
            self._video.add(self._annotated(picture, found, agreement), record)
        else:
            lines = self.folder / (picture.input.name + ".jsonl")
            lines.parent.mkdir(parents=True, exist_ok=True)
            with open(lines, "a", encoding="utf-8") as f:
                f.write(json.dumps(record, separators=(",", ":")) + "\n")

    def _write_text(self, picture: Picture, found: Detections) -> None:
        path = self.folder / LABELS_DIR / (os.path.splitext(picture_file(picture.name))[0] + ".txt")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yolo_lines(found), encoding="utf-8")

    def _write_crops(self, picture: Picture, found: Detections) -> None:
        height, width = picture.image.shape[:2]
        stem = os.path.splitext(picture_file(picture.name))[0].replace(os.sep, "_")
        for k, (box, class_id) in enumerate(zip(np.asarray(found.boxes).reshape(-1, 4), found.classes)):
            top, left = int(max(0.0, box[0]) * height), int(max(0.0, box[1]) * width)
            bottom, right = int(np.ceil(min(1.0, box[2]) * height)), int(np.ceil(min(1.0, box[3]) * width))
            if bottom > top and right > left:
                name = _safe(self.labels.get(int(class_id), str(int(class_id))))
                _save(picture.image[top:bottom, left:right], self.folder / CROPS_DIR / name / f"{stem}_{k}.jpg")

    def _close_video(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None

    def close(self) -> None:
        self._close_video()
        self.results.close()
        if self.compare_results is not None:
            self.compare_results.close()
        if self.agreement is not None:
            self.agreement.close()
        dataset = {"images": self.images,
                   "categories": [{"id": i, "name": name} for i, name in sorted(self.labels.items())],
                   "annotations": self.annotations}
        buffer = io.StringIO()
        json.dump(dataset, buffer, separators=(",", ":"))
        (self.folder / IMAGES_JSON).write_text(buffer.getvalue() + "\n", encoding="utf-8")


def agreement_line(agreement: dict) -> str:
    return (f"agreement: matched {agreement['matched']}/{agreement['reference']} "
            f"({agreement['matched_fraction']:.0%}), mean IoU {agreement['mean_iou']:.3f}, "
            f"largest score difference {agreement['max_score_delta']:.3f}")
