"""Input image formats: GIF (first frame), BMP, TIFF; EXIF orientation applied to the image
and its evidence boxes alike; the decoded-size budget checked from the header (issue 16)."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image, ImageOps
from synthetic_images import encoded, noise_image

from vea_augment.data.images import decode_image, decode_oriented, orient_boxes
from vea_augment.data.readers import RawSample, image_extension, read_webdataset_shard
from vea_augment.errors import ImageDecodeError
from vea_augment.steps.augment import AugmentSettings, prepare_sample


def _frames_gif() -> bytes:
    red, blue = Image.new("RGB", (8, 6), (255, 0, 0)), Image.new("RGB", (8, 6), (0, 0, 255))
    buffer = io.BytesIO()
    red.save(buffer, format="GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    return buffer.getvalue()


def test_an_animated_gif_decodes_to_its_first_frame():
    image = decode_image(_frames_gif())
    assert image.size == (8, 6) and image.mode == "RGB"
    assert (np.asarray(image) == (255, 0, 0)).all()


def test_bmp_and_a_multi_page_tiff_decode_exactly():
    pixels = noise_image(9, 5, 3)
    assert np.array_equal(np.asarray(decode_image(encoded(pixels, "BMP"))), np.asarray(pixels))
    buffer = io.BytesIO()
    pixels.save(buffer, format="TIFF", save_all=True, append_images=[noise_image(9, 5, 4)])
    assert np.array_equal(np.asarray(decode_image(buffer.getvalue())), np.asarray(pixels))


def test_gif_bmp_and_tiff_members_are_a_sample_s_image(tmp_path):
    members = {
        "g.gif": _frames_gif(),
        "b.bmp": encoded(noise_image(4, 4, 1), "BMP"),
        "t.tiff": encoded(noise_image(4, 4, 2), "TIFF"),
    }
    path = tmp_path / "formats.tar"
    with tarfile.open(path, "w") as archive:
        for name, data in members.items():
            key = name.split(".")[0]
            for member, payload in (
                (f"{key}.json", json.dumps({"id": key, "question": "q"}).encode()),
                (name, data),
            ):
                info = tarfile.TarInfo(member)
                info.size = len(payload)
                archive.addfile(info, io.BytesIO(payload))
    samples = list(read_webdataset_shard(str(path)))
    assert [(s.key, s.image_ext, s.error) for s in samples] == [
        ("g", "gif", None),
        ("b", "bmp", None),
        ("t", "tiff", None),
    ]
    assert [image_extension(data) for data in members.values()] == ["gif", "bmp", "tif"]


STORED_BOX = (1.0, 0.0, 3.0, 2.0)  # in a 6x4 stored image
UPRIGHT_BOX = {
    1: (1.0, 0.0, 3.0, 2.0),
    2: (3.0, 0.0, 5.0, 2.0),
    3: (3.0, 2.0, 5.0, 4.0),
    4: (1.0, 2.0, 3.0, 4.0),
    5: (0.0, 1.0, 2.0, 3.0),
    6: (2.0, 1.0, 4.0, 3.0),
    7: (2.0, 3.0, 4.0, 5.0),
    8: (0.0, 3.0, 2.0, 5.0),
}


def _oriented_png(orientation: int) -> bytes:
    """A black 6x4 PNG, white inside STORED_BOX, tagged with EXIF ``orientation``."""
    image = Image.new("RGB", (6, 4), (0, 0, 0))
    x0, y0, x1, y1 = (int(v) for v in STORED_BOX)
    image.paste((255, 255, 255), (x0, y0, x1, y1))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(image, "PNG", exif=exif.tobytes())


@pytest.mark.parametrize("orientation", sorted(UPRIGHT_BOX))
def test_exif_orientation_moves_the_boxes_with_the_pixels(orientation):
    data = _oriented_png(orientation)
    decoded = decode_oriented(data)
    assert (decoded.orientation, decoded.stored_size) == (orientation, (6, 4))
    # the same upright pixels as Pillow's own EXIF transpose
    reference = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    assert np.array_equal(np.asarray(decoded.image), np.asarray(reference))
    (box,) = orient_boxes([STORED_BOX], orientation, decoded.stored_size)
    assert box == UPRIGHT_BOX[orientation]
    white = np.asarray(decoded.image)[..., 0] == 255
    x0, y0, x1, y1 = (int(v) for v in box)
    expected = np.zeros_like(white)
    expected[y0:y1, x0:x1] = True
    assert np.array_equal(white, expected)


def test_a_rotated_sample_s_record_carries_its_upright_boxes():
    record = {"id": "rot", "question": "q", "evidence_boxes": [list(STORED_BOX)]}
    raw = RawSample(key="rot", record=record, image=_oriented_png(6), image_ext="png")
    prepared = prepare_sample(raw, AugmentSettings())
    assert prepared.error is None and prepared.orientation == 6
    assert prepared.image.size == (4, 6)
    assert prepared.sample.evidence_boxes == [UPRIGHT_BOX[6]]
    assert prepared.boxes_clipped == 0


def test_the_decoded_size_budget_is_checked_from_the_header_before_decoding():
    deep = Image.fromarray(np.full((100, 100), 40000, dtype=np.uint16))
    data = encoded(deep, "PNG")
    assert decode_image(data, max_bytes=20_000).size == (100, 100)
    reason = (
        "doc: a 100x100 I;16 image decodes to 20000 bytes, over the budget of 19999 bytes "
        "(MAX_DECODED_BYTES)"
    )
    with pytest.raises(ImageDecodeError) as raised:
        decode_image(data[:200], max_bytes=19_999, name="doc")  # the pixels are not even there
    assert str(raised.value) == reason
