"""What `detect --source` names, as a stream of pictures: image files, video frames, TFRecord examples.

A source is an image, a folder (searched recursively), a glob, a text file listing paths (one per
line, relative to the list), a video, or TFRecords of this project (their ground truth comes
along). Pictures are decoded one at a time, in a stable order, so memory stays flat on any
number of them; an unreadable one is yielded with the reason instead of its pixels.
"""

from __future__ import annotations

import dataclasses
import glob as glob_lib
import os
import re
from typing import Iterator, Sequence

import numpy as np

from od_tools.common.errors import UserError, first_line
from od_tools.evaluation.coco import GroundTruth

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")
LIST_SUFFIXES = (".txt",)
_RECORD = re.compile(r"\.(tfrecords?|records?)(-\d{5}-of-\d{5})?$|\.tfrecord$", re.I)


class Kind:
    """The three kinds of input file."""

    IMAGE, VIDEO, RECORDS = "image", "video", "records"


def kind_of(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith(IMAGE_SUFFIXES):
        return Kind.IMAGE
    if lower.endswith(VIDEO_SUFFIXES):
        return Kind.VIDEO
    if _RECORD.search(lower):
        return Kind.RECORDS
    return None


@dataclasses.dataclass(frozen=True)
class Input:
    """One file of the source and the name its outputs take (relative to the source's folder)."""

    path: str
    name: str
    kind: str


@dataclasses.dataclass(frozen=True)
class Picture:
    """One picture to run the model on: an image file, a frame of a video or a TFRecord example."""

    index: int                 # running number over the whole source (its image id is index + 1)
    input: Input
    name: str                  # e.g. "holiday/beach.jpg", "clip.mp4#000012", "val.record#00003_img.png"
    image: np.ndarray | None   # uint8 RGB [H, W, 3]; None when it could not be read
    error: str = ""            # why it could not be read
    frame: int | None = None   # frame number, for a video
    fps: float = 0.0           # the video's frame rate
    num_frames: int = 0        # the video's frame count (as its container says)
    groundtruth: GroundTruth | None = None


def _walk(folder: str, skip: str = "") -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and os.path.join(root, d) != skip)
        found += [os.path.join(root, f) for f in sorted(files) if kind_of(f) in (Kind.IMAGE, Kind.VIDEO)]
    return found


def _from_list(path: str) -> list[Input]:
    base = os.path.dirname(path)
    inputs = []
    for number, line in enumerate(open(path, encoding="utf-8").read().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        item = line if os.path.isabs(line) else os.path.join(base, line)
        kind = kind_of(item)
        if kind is None:
            raise UserError(f"{path}:{number}: {line} is not an image, video or TFRecord file "
                            f"({', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)}); list one path per line")
        inputs.append(Input(item, os.path.relpath(item, base) if not os.path.isabs(line) else os.path.basename(item),
                            kind))
    if not inputs:
        raise UserError(f"{path}: lists no paths; write one image, video or TFRecord path per line")
    return inputs


def resolve(source: str, output_dir: str = "") -> list[Input]:
    """The files `source` names, in order; a one-line error when it names none."""
    if not source:
        raise UserError("--source is empty; give an image, a folder, a glob, a list file, a video or TFRecords")
    output = os.path.realpath(output_dir) if output_dir else ""
    if os.path.isdir(source):
        real = os.path.realpath(source)
        if output and (output == real or output.startswith(real + os.sep)):
            raise UserError(f"--output_dir {output_dir} is inside --source {source}; its pictures would become "
                            "inputs of the next run: write them elsewhere")
        files = _walk(source, skip=output)
        if not files:
            raise UserError(f"--source {source}: no images or videos in it or below it (looked for "
                            f"{', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)})")
        return [Input(f, os.path.relpath(f, source), kind_of(f)) for f in files]
    if os.path.isfile(source):
        if source.lower().endswith(LIST_SUFFIXES):
            return _from_list(source)
        kind = kind_of(source)
        if kind is None:
            raise UserError(f"--source {source}: not an image, video, list (.txt) or TFRecord file; give one of "
                            f"{', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES + LIST_SUFFIXES)} or a .record")
        return [Input(source, os.path.basename(source), kind)]
    if glob_lib.has_magic(source):
        files = sorted(f for f in glob_lib.glob(source, recursive=True) if os.path.isfile(f) and kind_of(f))
        if not files:
            raise UserError(f"--source {source}: the glob matches no image, video or TFRecord file")
        base = os.path.commonpath([os.path.dirname(f) for f in files]) if len(files) > 1 else os.path.dirname(files[0])
        return [Input(f, os.path.relpath(f, base), kind_of(f)) for f in files]
    raise UserError(f"--source {source}: no such file or folder")


# --- decoding ---------------------------------------------------------------------------------

def read_image(path: str) -> np.ndarray:
    """uint8 RGB pixels as the picture is seen (EXIF orientation applied; a GIF's first frame).
    Raises OSError or ValueError for a file that is not a whole image."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        image.seek(0)
        upright = ImageOps.exif_transpose(image)
        return np.asarray(upright.convert("RGB"))


def _image_pictures(item: Input, index: int) -> Iterator[Picture]:
    try:
        yield Picture(index, item, item.name, read_image(item.path))
    except (OSError, ValueError, SyntaxError) as e:  # PIL: UnidentifiedImageError, truncated, bad header
        yield Picture(index, item, item.name, None, error=f"cannot read the image: {first_line(e, limit=1000)}")


def _video_pictures(item: Input, index: int) -> Iterator[Picture]:
    import cv2

    capture = cv2.VideoCapture(item.path)
    if not capture.isOpened():
        yield Picture(index, item, item.name, None, error="cannot open the video (not a video, or a codec "
                                                          "OpenCV's FFmpeg lacks)")
        return
    fps = float(capture.get(cv2.CAP_PROP_FPS)) or 30.0
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    frame = 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            yield Picture(index + frame, item, f"{item.name}#{frame:06d}", bgr[..., ::-1].copy(), frame=frame,
                          fps=fps, num_frames=count)
            frame += 1
    finally:
        capture.release()
    if frame == 0:
        yield Picture(index, item, item.name, None, error="the video has no frames that decode")


def _record_pictures(item: Input, index: int) -> Iterator[Picture]:
    import tensorflow as tf

    from od_tools.evaluation.examples import read_examples

    examples = read_examples([item.path])
    position = 0
    while True:
        try:
            example = next(examples)
        except StopIteration:
            return
        except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as e:
            raise UserError(f"{item.path}: record {position} cannot be read ({first_line(e.message, limit=1000)}); check "
                            "the file with inspect_tf_record") from None
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.splitext(example.source_id)[0])[:80].strip("._") or "image"
        truth = dataclasses.replace(example.groundtruth, image_id=index + position + 1)
        yield Picture(index + position, item, f"{item.name}#{position:05d}_{safe}", example.image,
                      groundtruth=truth)
        position += 1


def pictures(inputs: Sequence[Input]) -> Iterator[Picture]:
    """Every picture of the inputs, numbered on: images, video frames and TFRecord examples."""
    index = 0
    readers = {Kind.IMAGE: _image_pictures, Kind.VIDEO: _video_pictures, Kind.RECORDS: _record_pictures}
    for item in inputs:
        for picture in readers[item.kind](item, index):
            yield picture
            index = picture.index + 1


def expected_count(inputs: Sequence[Input]) -> int | None:
    """How many pictures the inputs hold, for the progress bar (None when a video cannot say)."""
    import cv2

    total = 0
    for item in inputs:
        if item.kind == Kind.IMAGE:
            total += 1
        elif item.kind == Kind.VIDEO:
            capture = cv2.VideoCapture(item.path)
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if capture.isOpened() else 0
            capture.release()
            total += max(count, 1)
        else:
            return None
    return total
