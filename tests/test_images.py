"""Image decoding: every PIL mode becomes RGB, bad data and bombs become clear errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from vea_augment.data.images import decode_image, encode_image, to_rgb
from vea_augment.errors import ImageDecodeError


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("mode", "value", "fmt", "expected_rgb"),
    [
        ("L", 128, "PNG", (128, 128, 128)),
        ("LA", (128, 255), "PNG", (128, 128, 128)),
        ("LA", (0, 0), "PNG", (255, 255, 255)),  # fully transparent -> white background
        ("RGBA", (10, 20, 30, 255), "PNG", (10, 20, 30)),
        ("RGBA", (10, 20, 30, 0), "PNG", (255, 255, 255)),
        ("CMYK", (0, 0, 0, 0), "TIFF", (255, 255, 255)),
        ("I;16", 65535, "TIFF", (255, 255, 255)),
        ("I;16", 0, "TIFF", (0, 0, 0)),
        ("1", 1, "PNG", (255, 255, 255)),
    ],
)
def test_every_mode_decodes_to_rgb(mode, value, fmt, expected_rgb):
    decoded = decode_image(_encoded(Image.new(mode, (7, 5), value), fmt))
    assert decoded.mode == "RGB"
    assert decoded.size == (7, 5)
    assert decoded.getpixel((3, 2)) == expected_rgb


def test_palette_image_with_transparency_composites_over_white():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([255, 0, 0] + [0, 0, 255] * 255)
    image.info["transparency"] = 0
    decoded = decode_image(_encoded(image, "PNG"))
    assert decoded.getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_gray_is_scaled_not_clipped():
    rgb = to_rgb(Image.fromarray(np.full((2, 2), 32896, dtype=np.uint16)))
    assert rgb.getpixel((0, 0)) == (128, 128, 128)


def test_float_image_in_unit_range_maps_to_full_range():
    rgb = to_rgb(Image.fromarray(np.full((2, 2), 1.0, dtype=np.float32), mode="F"))
    assert rgb.getpixel((1, 1)) == (255, 255, 255)


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (6, 2), (0, 0, 0))
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    assert decode_image(buffer.getvalue()).size == (2, 6)


def test_garbage_bytes_name_the_sample():
    with pytest.raises(ImageDecodeError, match=r"^doc-7: not an image \(no known image format\)$"):
        decode_image(b"definitely not an image", name="doc-7")


def test_truncated_png_is_an_error_not_a_partial_image():
    data = _encoded(Image.new("RGB", (64, 64), (1, 2, 3)), "PNG")
    with pytest.raises(ImageDecodeError, match="cannot decode"):
        decode_image(data[: len(data) // 2], name="cut")


def test_pixel_limit_refuses_bombs_and_admits_large_pages():
    data = _encoded(Image.new("L", (300, 200)), "PNG")
    with pytest.raises(ImageDecodeError, match="60000 pixels exceeds the limit of 59999"):
        decode_image(data, max_pixels=59_999, name="bomb")
    assert decode_image(data, max_pixels=60_000).size == (300, 200)


def test_default_limit_admits_a_35_megapixel_page():
    from vea_augment.options import MAX_IMAGE_PIXELS as DEFAULT_MAX_PIXELS

    assert DEFAULT_MAX_PIXELS >= 7000 * 5000


@pytest.mark.parametrize("extension", ["png", "jpg", "webp"])
def test_encode_then_decode_keeps_size(extension):
    pixels = np.zeros((9, 11, 3), dtype=np.uint8)
    decoded = decode_image(encode_image(pixels, extension))
    assert decoded.size == (11, 9)


def test_png_round_trip_is_lossless():
    pixels = np.random.default_rng(0).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    assert np.array_equal(np.asarray(decode_image(encode_image(pixels, "png"))), pixels)


def test_unknown_output_format_is_refused():
    with pytest.raises(ImageDecodeError, match="unsupported image format 'bmp'"):
        encode_image(np.zeros((2, 2, 3), dtype=np.uint8), "bmp")
