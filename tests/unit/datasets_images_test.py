"""Image checks: formats that pass, sizes and orientation from the header, damage that is caught."""

import io

import pytest
from PIL import Image

from od_tools.datasets.checks import encoded_images


def encoded(fmt: str, size=(40, 30), mode="RGB", **kwargs) -> bytes:
    buffer = io.BytesIO()
    picture = Image.new(mode, size, (200, 30, 90) if mode == "RGB" else 128)
    for x in range(0, size[0], 3):
        picture.putpixel((x, x % size[1]), (x * 5 % 255, 10, 200) if mode == "RGB" else x % 255)
    picture.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def test_jpeg_and_png_pass_with_their_size():
    assert encoded_images.probe(encoded("JPEG")) == encoded_images.ImageInfo("jpeg", 40, 30, 1)
    assert encoded_images.probe(encoded("PNG", (7, 9))) == encoded_images.ImageInfo("png", 7, 9, 1)
    assert encoded_images.probe(encoded("JPEG", mode="L")).image_format == "jpeg"
    assert encoded_images.probe(encoded("PNG", mode="P")).image_format == "png"


def test_exif_orientation_is_read_from_the_header():
    exif = Image.Exif()
    exif[encoded_images.EXIF_ORIENTATION_TAG] = 6
    info = encoded_images.probe(encoded("JPEG", (40, 30), exif=exif.tobytes()))
    assert (info.width, info.height, info.orientation) == (40, 30, 6)
    assert encoded_images.swaps_axes(6) and not encoded_images.swaps_axes(3)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "WEBP", "TIFF"])
def test_other_formats_are_unsupported(fmt):
    with pytest.raises(encoded_images.ImageProblem) as caught:
        encoded_images.probe(encoded(fmt))
    assert caught.value.kind == "image_unsupported"
    assert "JPEG or PNG" in caught.value.detail


@pytest.mark.parametrize("cut", [0.3, 0.7, 0.99])
def test_truncated_jpeg_is_corrupt(cut):
    data = encoded("JPEG", (64, 64))
    with pytest.raises(encoded_images.ImageProblem) as caught:
        encoded_images.probe(data[:int(len(data) * cut)])
    assert caught.value.kind == "image_corrupt"


def test_jpeg_missing_only_its_end_marker_is_corrupt():
    data = encoded("JPEG", (64, 64))
    assert data.endswith(b"\xff\xd9")
    with pytest.raises(encoded_images.ImageProblem, match="does not decode"):
        encoded_images.probe(data[:-2])


def test_png_with_a_damaged_chunk_is_corrupt():
    data = bytearray(encoded("PNG", (32, 32)))
    at = data.index(b"IDAT") + 10
    data[at] ^= 0xFF
    with pytest.raises(encoded_images.ImageProblem) as caught:
        encoded_images.probe(bytes(data))
    assert caught.value.kind == "image_corrupt"


@pytest.mark.parametrize("data", [b"", b"not an image at all", b"\xff\xd8\xff\xe0garbage"])
def test_non_images_are_corrupt(data):
    with pytest.raises(encoded_images.ImageProblem) as caught:
        encoded_images.probe(data)
    assert caught.value.kind == "image_corrupt"


def test_the_header_check_reads_no_pixels_but_still_catches_truncation():
    data = encoded("JPEG", (256, 256))
    assert encoded_images.probe(data, "header") == encoded_images.probe(data, "decode")
    with pytest.raises(encoded_images.ImageProblem, match="ends before its end-of-image marker"):
        encoded_images.probe(data[: len(data) * 9 // 10], "header")
    png = bytearray(encoded("PNG", (32, 32)))
    png[png.index(b"IDAT") + 10] ^= 0xFF
    with pytest.raises(encoded_images.ImageProblem):
        encoded_images.probe(bytes(png), "header")


def test_a_truncated_main_image_is_caught_despite_a_complete_exif_thumbnail():
    thumbnail = encoded("JPEG", (16, 16))
    exif = Image.Exif()
    exif[encoded_images.EXIF_ORIENTATION_TAG] = 1
    data = encoded("JPEG", (64, 64), exif=exif.tobytes())
    # Splice a whole thumbnail JPEG (with its own scan and end marker) into an APP segment.
    app = b"\xff\xe2" + (len(thumbnail) + 2).to_bytes(2, "big") + thumbnail
    spliced = data[:2] + app + data[2:]
    assert encoded_images.probe(spliced, "header").width == 64
    with pytest.raises(encoded_images.ImageProblem):
        encoded_images.probe(spliced[: len(spliced) - 200], "header")
