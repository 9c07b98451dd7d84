"""Setup and checks shared by the per-family tests (``test_family_*.py``).

The tiny attributor they run on, the images they encode, and the checks that read the same for
every family that cuts an image into several views (squares, tiles, crops) plus a whole view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from synthetic_images import noise_image
from test_attribution import (
    assert_batch_equals_eager_and_single_samples,
    covered_share,
    image_token_embeddings,
)

from vea_augment.attribution.attributor import Attributor
from vea_augment.models.adapter import ViewLayout
from vea_augment.options import ModelOptions
from vea_augment.testing.tiny import build_tiny_checkpoint

FLOAT32 = ModelOptions(dtype="float32")
QUESTIONS = ["What is written on the sign?", "Which colour?"]


def tiny_attributor(family: str, tmp_path_factory: pytest.TempPathFactory) -> Attributor:
    """An attributor of layer 0 in float32 on a freshly built tiny ``family`` checkpoint."""
    directory = build_tiny_checkpoint(family, tmp_path_factory.mktemp("tiny") / family)
    return Attributor.from_pretrained(directory, [0], FLOAT32)


def white_block_image(size: tuple[int, int]) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A black image of ``size`` (width, height) with one white block, and the block (xyxy).

    The block starts at the middle column and a quarter of the height, a third of the width
    wide and half the height tall: it cuts through tokens, views and tiles alike.
    """
    width, height = size
    block = (width // 2, height // 4, width // 2 + width // 3, height // 4 + height // 2)
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[block[1] : block[3], block[0] : block[2]] = 255
    return Image.fromarray(pixels), block


def assert_tokens_hold_the_white_share_of_their_boxes(
    layouts: Sequence[ViewLayout], frames: torch.Tensor, block: tuple[int, int, int, int]
) -> None:
    """One 32 × 32 processed frame per view of ``white_block_image``: the share of white in
    each token's 8 × 8 pixel block is the share of the token's box that ``block`` covers in
    the original (to 0.3, as resampling softens the block's edges for about a pixel)."""
    black, white = frames.min(), frames.max()
    for layout, frame in zip(layouts, frames, strict=True):
        share = ((frame.reshape(4, 8, 4, 8).mean(dim=(1, 3)) - black) / (white - black)).numpy()
        covered = covered_share(layout.boxes, block)
        np.testing.assert_allclose(share, covered, atol=0.3, err_msg=layout.name)


def change_by_view_after_a_local_edit(attributor: Attributor) -> dict[str, float]:
    """The largest change of any image-token embedding in each view (by name) when a white
    40 × 40 square is painted at x 130-170, y 30-70 of a 300 × 100 noise image: inside the
    middle third of the image, where tiling families cut it in three side by side."""
    base = noise_image(300, 100, 3)
    edited = np.asarray(base).copy()
    edited[30:70, 130:170] = 255
    before, layouts = image_token_embeddings(attributor, base)
    after, _ = image_token_embeddings(attributor, Image.fromarray(edited))
    return {
        layout.name: np.linalg.norm(after - before, axis=-1)[layout.positions].max()
        for layout in layouts
    }


def one_view_of_a_wide_image(attributor: Attributor) -> tuple[ViewLayout, Any]:
    """The layout of a 300 × 100 noise image that must come as a single view (unpacking fails
    on more), and the processor inputs it came from."""
    image = noise_image(300, 100, 2)
    inputs = attributor.encode([image], attributor.prompts(["q"]))
    (layout,) = attributor.adapter.layouts(inputs, 0, image.size)
    return layout, inputs


def assert_a_batch_of_two_equals_eager_and_single_samples(
    attributor: Attributor,
    images: list[Image.Image],
    view_counts: list[int],
    layers: Sequence[int] = (1, 3),
) -> None:
    """Two ``images`` with ``view_counts`` views each, asked ``QUESTIONS``, in one padded
    batch: it equals the eager route and each sample alone at ``layers``."""
    batch = attributor.encode(images, attributor.prompts(QUESTIONS))
    views = [attributor.adapter.layouts(batch, row, image.size) for row, image in enumerate(images)]
    assert [len(row) for row in views] == view_counts
    assert_batch_equals_eager_and_single_samples(attributor, batch, images, QUESTIONS, list(layers))
