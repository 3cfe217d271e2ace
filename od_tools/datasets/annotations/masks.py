"""Instance masks as annotation files state them, and as the Object Detection API reads them.

COCO gives a mask as polygons (one or more rings of pixel `x, y` pairs), as compressed RLE (a
`counts` string) or as uncompressed RLE (a `counts` list, COCO's own crowd regions); VoTT gives
a polygon region; OD API TFRecords hold one PNG per object (`image/object/mask`). All become
what the OD API's COCO converter writes and its decoder reads with `mask_type: PNG_MASKS`: an
image-sized single-channel PNG of 0 and 1 per object. Rasterizing is pycocotools' (the same
call the OD API's `create_coco_tf_record.py` makes), so masks match COCO evaluation pixel for
pixel. Runs in the converter's worker processes: numpy, PIL and pycocotools, no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Union

import numpy as np
from PIL import Image

# A mask that puts less than this share of its pixels inside its own box describes another
# object than the box does (a mis-paired annotation, or a polygon in other units).
MIN_INSIDE_BOX = 0.5


@dataclasses.dataclass(frozen=True)
class Polygons:
    """Rings of pixel coordinates `(x0, y0, x1, y1, ...)`, as COCO's `segmentation` list."""

    rings: tuple[tuple[float, ...], ...]


@dataclasses.dataclass(frozen=True)
class RunLength:
    """COCO RLE: `counts` compressed (str) or not (ints), over `height` x `width` in column order."""

    counts: Union[str, tuple[int, ...]]
    height: int
    width: int


@dataclasses.dataclass(frozen=True)
class EncodedMask:
    """A PNG mask from a TFRecord's `image/object/mask`."""

    png: bytes


Mask = Union[Polygons, RunLength, EncodedMask]


class MaskProblem(Exception):
    """A mask that cannot be written; `kind` is the validation issue it maps to."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def usable_rings(polygons: Polygons) -> tuple[tuple[tuple[float, ...], ...], int]:
    """(the rings of three or more points, how many others were left out).

    A ring of one or two points encloses nothing, and pycocotools reads a first ring of exactly
    four numbers as a box, so such rings are left out before rasterizing.
    """
    kept = tuple(ring for ring in polygons.rings if len(ring) >= 6 and len(ring) % 2 == 0)
    return kept, len(polygons.rings) - len(kept)


def decode_counts(text: str) -> list[int]:
    """COCO's compressed RLE string as run lengths (pycocotools' `rleFrString`, in Python).

    Each number is 5-bit groups offset by 48, low group first, 0x20 meaning "more follows" and
    0x10 in the last group the sign; from the third number on it is a difference to the number
    two places back. Raises ValueError on a string that ends inside a number.
    """
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                raise ValueError("the string ends inside a number")
            group = ord(text[position]) - 48
            if not 0 <= group < 64:
                raise ValueError(f"character {text[position]!r} is not part of the encoding")
            value |= (group & 0x1F) << shift
            more = bool(group & 0x20)
            position += 1
            shift += 5
            if not more and group & 0x10:
                value |= -1 << shift
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def _checked_run_length(mask: RunLength, width: int, height: int) -> dict:
    """The RLE as pycocotools takes it, after checks that keep its C decoder inside its buffer."""
    if (mask.height, mask.width) != (height, width):
        raise MaskProblem("mask_size_mismatch", f"RLE mask of {mask.width}x{mask.height} (its 'size' [height, "
                                                f"width]) on a {width}x{height} image")
    try:
        counts = decode_counts(mask.counts) if isinstance(mask.counts, str) else list(mask.counts)
    except ValueError as e:
        raise MaskProblem("mask_corrupt", f"RLE 'counts' string does not decode ({e})") from e
    if any(run < 0 for run in counts) or sum(counts) != width * height:
        raise MaskProblem("mask_corrupt", f"RLE runs add up to {sum(counts)} pixels, not the image's "
                                          f"{width * height}")
    if isinstance(mask.counts, str):
        return {"counts": mask.counts.encode("ascii"), "size": [height, width]}
    return {"counts": counts, "size": [height, width]}


def _decoded_png(mask: EncodedMask, width: int, height: int) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(mask.png)) as image:
            image.load()
            pixels = np.asarray(image.convert("L"))
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise MaskProblem("mask_corrupt", f"PNG mask does not decode ({e})") from e
    if pixels.shape != (height, width):
        raise MaskProblem("mask_size_mismatch", f"PNG mask of {pixels.shape[1]}x{pixels.shape[0]} on a "
                                                f"{width}x{height} image")
    return (pixels > 0).astype(np.uint8)


def rasterize(mask: Mask, width: int, height: int) -> np.ndarray:
    """The mask as a (height, width) uint8 array of 0 and 1; polygons clipped to the image.

    Polygons must hold usable rings only (`usable_rings`). Raises MaskProblem for an RLE or PNG
    mask of another size, or one that does not decode.
    """
    if isinstance(mask, EncodedMask):
        return _decoded_png(mask, width, height)
    from pycocotools import mask as coco_mask

    if isinstance(mask, Polygons):
        rle = coco_mask.merge(coco_mask.frPyObjects([list(ring) for ring in mask.rings], height, width))
    else:
        rle = _checked_run_length(mask, width, height)
        if not isinstance(rle["counts"], bytes):
            rle = coco_mask.frPyObjects(rle, height, width)
    return np.ascontiguousarray(coco_mask.decode(rle), dtype=np.uint8)


def encode_png(pixels: np.ndarray) -> bytes:
    """0/1 pixels as the OD API's converter stores them: a grayscale PNG of those values."""
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), mode="L").save(buffer, "PNG")
    return buffer.getvalue()


def share_inside(pixels: np.ndarray, box_px: tuple[float, float, float, float]) -> float:
    """The share of the mask's pixels that lie in the pixel box (grown to whole pixels)."""
    total = int(pixels.sum())
    if total == 0:
        return 0.0
    xmin, ymin, xmax, ymax = box_px
    x0, y0 = max(0, int(np.floor(xmin))), max(0, int(np.floor(ymin)))
    x1, y1 = int(np.ceil(xmax)), int(np.ceil(ymax))
    return int(pixels[y0:y1, x0:x1].sum()) / total
