"""Checking encoded images without re-encoding them.

What is sound: the header (PIL's `Image.open`) gives the format and the size TensorFlow will
decode, at almost no cost. The header says nothing about the data after it, and a truncated or
damaged JPEG only fails when the training input pipeline decodes it, hours later. Two checks:

* "decode" (the default): every image is decoded once. JPEG: libjpeg decodes with DCT scaling
  at 1/8 size (`draft`); it still entropy-decodes every block and reads every table, so it
  fails exactly where TensorFlow's decoder fails (truncation, a missing end marker, damaged
  Huffman tables; the tests hold both decoders to that), at ~70% of a full decode's CPU.
  PNG: every chunk's CRC is checked (`verify`; TensorFlow's libpng enforces them too), then
  the image is decoded.
* "header": the header, plus proof the data is complete: a JPEG's end-of-image marker after
  its last scan, a PNG's chunk CRCs through IEND. Catches truncated copies and downloads and
  non-images at a small fraction of the cost, but not a JPEG whose tables are damaged inside.

Only JPEG and PNG pass: they are what the Object Detection API and Model Garden decoders read
(`image/format` 'jpeg' / 'png'). The bytes written to the TFRecord are the file's own.
"""

from __future__ import annotations

import dataclasses
import io
import warnings

from PIL import Image, UnidentifiedImageError

# PIL format name -> image/format. MPO is the multi-picture JPEG many cameras write; decoders
# read its first picture as an ordinary JPEG.
FORMATS = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png"}

EXIF_ORIENTATION_TAG = 0x0112


class ImageProblem(Exception):
    """An image that cannot go into a TFRecord; `kind` is the validation issue it maps to."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    image_format: str   # "jpeg" or "png"
    width: int
    height: int
    orientation: int    # EXIF orientation; 1 = as stored. Decoders ignore it.


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except UnidentifiedImageError as e:
        raise ImageProblem("image_corrupt", "not a readable image (no known image header)") from e
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageProblem("image_unsupported", f"too many pixels to decode safely ({e})") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageProblem("image_corrupt", f"unreadable image header ({e})") from e


CHECKS = ("decode", "header")
_JPEG_SCAN, _JPEG_END = b"\xff\xda", b"\xff\xd9"


def _orientation(image: Image.Image, loaded: bool) -> int:
    if not loaded and image.format == "PNG" and "exif" not in image.info:
        return 1  # PNG keeps EXIF after the pixels when at all; reading it would decode them
    return int(image.getexif().get(EXIF_ORIENTATION_TAG, 1) or 1)


def probe(data: bytes, check: str = "decode") -> ImageInfo:
    """Format, size and orientation of an encoded image; raises ImageProblem if it is unusable."""
    if not data:
        raise ImageProblem("image_corrupt", "empty file")
    image = _open(data)
    image_format = FORMATS.get(image.format or "")
    if image_format is None:
        raise ImageProblem(
            "image_unsupported", f"{image.format} image; TFRecords for detection hold JPEG or PNG: convert it")
    width, height = image.size
    decode = check == "decode"
    try:
        if image_format == "png":
            image.verify()  # chunk CRCs; leaves the image unusable, so reopen it
            image = Image.open(io.BytesIO(data))
        elif decode:
            image.draft(None, (1, 1))
        elif not 0 <= data.rfind(_JPEG_SCAN) < data.rfind(_JPEG_END):
            # Entropy-coded data never holds these markers (0xFF is stuffed), so an end marker
            # after the last scan header means the last scan is complete.
            raise ImageProblem("image_corrupt", "JPEG data ends before its end-of-image marker (truncated)")
        if decode:
            image.load()
        orientation = _orientation(image, loaded=decode)
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageProblem("image_corrupt", f"{image_format.upper()} data does not decode ({e})") from e
    return ImageInfo(image_format, width, height, orientation)


def swaps_axes(orientation: int) -> bool:
    """EXIF orientations 5-8 display the image rotated by 90°: width and height trade places."""
    return orientation in (5, 6, 7, 8)
