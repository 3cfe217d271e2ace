"""Checking encoded images without re-encoding them.

What is sound: the header (PIL's `Image.open`) gives the format and the size TensorFlow will
decode, at almost no cost. The header says nothing about the data after it, and a truncated or
damaged JPEG only fails when the training input pipeline decodes it, hours later. Two checks:

* "decode" (the default): every image is decoded once. JPEG: libjpeg decodes with DCT scaling
  at 1/8 size, luminance only (`draft("L")`); it still entropy-decodes every block of every
  component and reads every table, and must reach the end-of-image marker within the data as
  TensorFlow's decoder must (PIL alone stops at the last pixel), so it fails exactly where
  TensorFlow's decoder fails (truncation, a missing end marker, damaged tables or markers; the
  tests hold both decoders to that on thousands of randomly damaged images), at ~65% of a
  full decode's CPU: what is left is the entropy decoding itself.
  PNG: every chunk's CRC is checked (`verify`, plus IEND's; TensorFlow's libpng enforces them
  too), and so are the critical chunks libpng knows and the compressed stream's end, then the
  image is decoded. No PNG TensorFlow refuses passes; a PNG whose chunks all have valid CRCs
  but whose stream is damaged only after the last row is refused although libpng decodes it.
* "header": the header, plus proof the data is complete: a JPEG's end-of-image marker after
  its last scan, a PNG's chunk CRCs through IEND. Catches truncated copies and downloads and
  non-images at a small fraction of the cost, but not a JPEG whose tables are damaged inside.

Only JPEG and PNG pass: they are what the Object Detection API and Model Garden decoders read
(`image/format` 'jpeg' / 'png'). The bytes written to the TFRecord are the file's own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import warnings
import zlib

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
_JPEG_START, _JPEG_SCAN, _JPEG_END = b"\xff\xd8", b"\xff\xda", b"\xff\xd9"
# Appended to a JPEG for the decode check. TensorFlow's decoder fails when libjpeg needs data
# past the end on its way to the end-of-image marker; PIL's stops as soon as it has every pixel.
# Past the end libjpeg now finds a marker it must refuse (0x02), whatever it was doing: a damaged
# marker segment's length (65535 at most) still ends inside this.
_JPEG_PAST_END = b"\xff\x02" * 32769
_PNG_CRITICAL = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}  # the critical chunks libpng knows


def _png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start of data, length) of every chunk up to IEND; PIL's verify checked their CRCs."""
    chunks, at = [], 8
    while at + 8 <= len(data):
        kind, length = data[at + 4:at + 8], int.from_bytes(data[at:at + 4], "big")
        chunks.append((kind, at + 8, length))
        if kind == b"IEND":
            break
        at += 12 + length
    return chunks


def _png_stream_problem(data: bytes, chunks: list[tuple[bytes, int, int]]) -> str | None:
    """The compressed pixel data must run to its own end (its checksum verified): libpng refuses
    a stream that stops after the rows PIL needs. (libpng lets pass some streams damaged only
    after the last row; this refuses them too, the safe side for training.)"""
    stream = zlib.decompressobj()
    try:
        for kind, start, length in chunks:
            pending = data[start:start + length] if kind == b"IDAT" else b""
            while pending and not stream.eof:
                stream.decompress(pending, 1 << 20)  # in slices: the pixels themselves are not kept
                pending = stream.unconsumed_tail
    except zlib.error as e:
        return f"its compressed pixel data is damaged: {e}"
    return None if stream.eof else "its compressed pixel data ends early"


def _png_problem(data: bytes, decode: bool) -> str | None:
    """What libpng (TensorFlow's decoder) refuses and PIL lets pass: an IEND chunk cut short or
    with a wrong CRC (PIL checks every CRC but IEND's), an unknown critical chunk, and (when
    decoding) a compressed stream that stops after the last row but before its own end."""
    chunks = _png_chunks(data)
    kind, start, length = chunks[-1] if chunks else (b"", 0, 0)
    stored_crc = data[start + length:start + length + 4]
    if kind != b"IEND" or stored_crc != zlib.crc32(data[start - 4:start + length]).to_bytes(4, "big"):
        return "its IEND chunk is damaged"
    unknown = sorted({kind for kind, _, _ in chunks if kind[:1].isupper() and kind not in _PNG_CRITICAL})
    if unknown:
        return f"unknown critical chunk {unknown[0].decode('latin-1')!r}"
    return _png_stream_problem(data, chunks) if decode else None


def _orientation(image: Image.Image, loaded: bool) -> int:
    if not loaded and image.format == "PNG" and "exif" not in image.info:
        return 1  # PNG keeps EXIF after the pixels when at all; reading it would decode them
    return int(image.getexif().get(EXIF_ORIENTATION_TAG, 1) or 1)


def probe(data: bytes, check: str = "decode") -> ImageInfo:
    """Format, size and orientation of an encoded image; raises ImageProblem if it is unusable."""
    if not data:
        raise ImageProblem("image_corrupt", "empty file")
    decode = check == "decode"
    image = _open(data + _JPEG_PAST_END if decode and data.startswith(_JPEG_START) else data)
    image_format = FORMATS.get(image.format or "")
    if image_format is None:
        raise ImageProblem(
            "image_unsupported", f"{image.format} image; TFRecords for detection hold JPEG or PNG: convert it")
    width, height = image.size
    try:
        if image_format == "png":
            image.verify()  # chunk CRCs; leaves the image unusable, so reopen it
            problem = _png_problem(data, decode)
            if problem:
                raise ImageProblem("image_corrupt", f"PNG data does not decode ({problem})")
            image = Image.open(io.BytesIO(data))
        elif decode:
            image.draft("L", (1, 1))  # colour JPEGs only: others keep their mode
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


def pixel_digest(data: bytes) -> str | None:
    """sha256 of the size and RGB pixels (as a detector gets them: stored orientation, no alpha):
    equal for copies that differ only in metadata or lossless re-compression. None if the image
    does not decode (validation skips it)."""
    try:
        with _open(data) as image:
            pixels = image.convert("RGB")
    except (ImageProblem, OSError, SyntaxError, ValueError, EOFError):
        return None
    digest = hashlib.sha256(f"{pixels.width}x{pixels.height}:".encode())
    digest.update(pixels.tobytes())
    return digest.hexdigest()


def swaps_axes(orientation: int) -> bool:
    """EXIF orientations 5-8 display the image rotated by 90°: width and height trade places."""
    return orientation in (5, 6, 7, 8)
