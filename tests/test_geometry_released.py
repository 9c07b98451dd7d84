"""Every family at its RELEASED processor and vision geometry, on real-world image sizes.

The family tests use tiny geometry (32-px squares of 4-px patches) that divides evenly and
hides off-by-a-patch bugs. Here each checkpoint has the released image, patch, merge and tile
sizes (``RELEASED_GEOMETRY``) with tiny widths, and for 1024x683, 786x1024, 300x1200 and
2048x1536 images:

(a) the image tokens the processor writes are exactly the adapter's views (plus LLaVA-NeXT's
    row newlines, in no view), and the model places its vision features on them;
(b) every box lies inside the image, except where the family pads (LLaVA's pad to square,
    LLaVA-NeXT's pad sliver), and inside a view the boxes tile a grid without overlap;
(c) perturbing rectangles of the ORIGINAL image changes the input embeddings (the vision
    tower's output placed at the image tokens, before the language model) of exactly the
    tokens whose boxes overlap them.

For (c) the vision tower runs at its patch stage: no transformer layer before the features
(Qwen-VL ``depth=0``; SigLIP and InternViT with no layers; CLIP with one layer, whose
released ``vision_feature_layer=-2`` then reads the embeddings). Attention would spread any
change to every token of a view; without it each token's embedding is the family's own patch
embedding, position embedding, merge (2x2 merger, pooling, pixel shuffle, unpadding) and
projector over its own patches, so the set of changed tokens is the ground truth of which
pixels each token sees. The processors resample with NEAREST here: a released filter only
blurs a change over its kernel's few pixels, and nothing of the geometry (sizes, crops, tile
grids) depends on it. A token may then go either way only when its box overlaps a rectangle
by less than one processed pixel (plus one original pixel of rounding) or misses it by less
than one original pixel; every other token must change or stay bit for bit as it was.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from vea_augment.attribution.attributor import Attributor
from vea_augment.method.labels import evidence_labels
from vea_augment.method.layer_profile import view_labels
from vea_augment.models.adapter import ViewLayout
from vea_augment.models.families.gemma3 import configure_pan_and_scan
from vea_augment.options import ModelOptions
from vea_augment.testing.tiny import RELEASED_GEOMETRY, TinyGeometry, build_tiny_checkpoint

SIZES = [(1024, 683), (786, 1024), (300, 1200), (2048, 1536)]
NEAREST = 0  # PILImageResampling.NEAREST
#: How far (original pixels) outside a changed rectangle a NEAREST resize may still sample.
REACH = 1.0

#: Vision-config overrides that leave no transformer layer before the vision features.
_SIGLIP = {"num_hidden_layers": 0}
_CLIP = {"num_hidden_layers": 1}  # vision_feature_layer=-2: the embeddings


@dataclass(frozen=True)
class Released:
    """One family at its released geometry."""

    family: str
    geometry: TinyGeometry
    patch_stage: dict[str, Any]
    #: Processed pixels along one side of a token (patch x merge).
    token_pixels: int
    #: Boxes may reach past the image (pad background).
    pads: bool = False
    #: Gemma-3's pan-and-scan switched on, with the released crop settings.
    pan_and_scan: bool = False


def _released(family: str, stage: dict[str, Any], **fields: Any) -> Released:
    geometry = fields.pop("geometry", RELEASED_GEOMETRY[family])
    pixels = geometry.patch_size * (geometry.merge or 1)
    return Released(family, geometry, stage, pixels, **fields)


_QWEN = {"depth": 0}
VARIANTS = {
    "qwen2_vl": _released("qwen2_vl", _QWEN),
    # transformers' own Qwen2VLImageProcessor default (28 * 28 * 1280), not the checkpoints'.
    "qwen2_vl@max_pixels=1003520": _released(
        "qwen2_vl",
        _QWEN,
        geometry=TinyGeometry(
            patch_size=14, merge=2, min_pixels=56 * 56, max_pixels=28 * 28 * 1280
        ),
    ),
    "qwen2_5_vl": _released("qwen2_5_vl", {**_QWEN, "fullatt_block_indexes": []}),
    "qwen3_vl": _released("qwen3_vl", {**_QWEN, "deepstack_visual_indexes": []}),
    "llava": _released("llava", _CLIP),
    "llava_pad": _released("llava_pad", _CLIP, pads=True),
    "llava_next": _released("llava_next", _CLIP, pads=True),
    "gemma3": _released("gemma3", _SIGLIP),
    "gemma3@pan_and_scan": _released("gemma3", _SIGLIP, pan_and_scan=True),
    "internvl": _released("internvl", _SIGLIP),
    "idefics3": _released("idefics3", _SIGLIP),
    "smolvlm": _released("smolvlm", _SIGLIP),
}


class Attributors(dict):
    """The variants' attributors (1 text layer, width 32), each built on first use."""

    def __init__(self, root) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, name: str) -> Attributor:
        variant = VARIANTS[name]
        directory = build_tiny_checkpoint(
            variant.family,
            self.root / name.replace("@", "-").replace("=", "-"),
            num_layers=1,
            hidden_size=32,
            geometry=variant.geometry,
            vision_overrides=variant.patch_stage,
        )
        attributor = Attributor.from_pretrained(directory, [0], ModelOptions(dtype="float32"))
        if variant.pan_and_scan:
            configure_pan_and_scan(attributor.processor)
        self[name] = attributor
        return attributor


@pytest.fixture(scope="module")
def attributors(tmp_path_factory: pytest.TempPathFactory) -> Attributors:
    return Attributors(tmp_path_factory.mktemp("released"))


def noise(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    width, height = size
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


class _StopError(Exception):
    """Raised at the language model's door: the input embeddings are all the test needs."""


def input_embeddings(attributor: Attributor, images: list[Image.Image]) -> tuple[np.ndarray, Any]:
    """The language model's input embeddings of a batch (one row per image) and its inputs."""
    inputs = attributor.encode(images, attributor.prompts(["What?"] * len(images)))
    seen: dict[str, torch.Tensor] = {}

    def grab(_module, _args, kwargs):
        seen["embeds"] = kwargs["inputs_embeds"].detach()
        raise _StopError

    handle = attributor.model.get_decoder().register_forward_pre_hook(grab, with_kwargs=True)
    try:
        with torch.inference_mode():
            attributor.model(**inputs, use_cache=False)
    except _StopError:
        pass
    finally:
        handle.remove()
    return seen["embeds"].double().numpy(), inputs


def image_extent(layout: ViewLayout, size: tuple[int, int]) -> tuple[float, ...]:
    """The bounding box of a view's token boxes, cut to the image."""
    boxes = layout.boxes.reshape(-1, 4)
    width, height = size
    return (
        max(boxes[:, 0].min(), 0.0),
        max(boxes[:, 1].min(), 0.0),
        min(boxes[:, 2].max(), width),
        min(boxes[:, 3].max(), height),
    )


def strides(layout: ViewLayout, token_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Original pixels per processed pixel of each token, across and down."""
    boxes = layout.boxes
    return (
        (boxes[..., 2] - boxes[..., 0]) / token_pixels,
        (boxes[..., 3] - boxes[..., 1]) / token_pixels,
    )


def edge_strips(layouts: list[ViewLayout], size: tuple[int, int], token_pixels: int) -> list:
    """For every view, a strip just inside each edge of the pixels its tokens claim, two
    processed pixels (plus one original pixel) deep: a token that claims pixels its patches
    do not see stops changing there."""
    strips = []
    for layout in layouts:
        x0, y0, x1, y1 = image_extent(layout, size)
        across, down = strides(layout, token_pixels)
        dx, dy = 2 * float(across.max()) + 1, 2 * float(down.max()) + 1
        strips += [
            (x1 - dx, y0, x1, y1),
            (x0, y1 - dy, x1, y1),
            (x0, y0, x0 + dx, y1),
            (x0, y0, x1, y0 + dy),
        ]
    return strips


def probes(size: tuple[int, int], layouts: list[ViewLayout], token_pixels: int) -> dict:
    """Named sets of rectangles to perturb, one image each: xyxy in whole original pixels
    (each widened outwards to the pixel grid), inside the image."""
    width, height = size
    named = {
        "whole image": [(0, 0, width, height)],
        "interior": [
            (0.37 * width, 0.41 * height, 0.52 * width, 0.58 * height),
            (0.1 * width, 0.8 * height, 0.1 * width + 5, 0.8 * height + 5),
        ],
        "view edges": edge_strips(layouts, size, token_pixels),
        "scattered": scattered(size),
    }
    return {
        name: [
            (
                max(math.floor(x0), 0),
                max(math.floor(y0), 0),
                min(math.ceil(x1), width),
                min(math.ceil(y1), height),
            )
            for x0, y0, x1, y1 in rectangles
        ]
        for name, rectangles in named.items()
    }


def scattered(size: tuple[int, int], count: int = 24) -> list:
    """Small rectangles (0.5 % to 4 % of each side) at seeded random places: their edges fall
    at every offset inside the tokens, so a grid off by a pixel or two is caught somewhere."""
    width, height = size
    rng = np.random.default_rng(5)
    extents = rng.uniform(0.005, 0.04, (count, 2)) * (width, height)
    corners = rng.uniform(0, 1, (count, 2)) * ((width, height) - extents)
    return [(x, y, x + w, y + h) for (x, y), (w, h) in zip(corners, extents, strict=True)]


def perturbed(base: np.ndarray, rectangles: list) -> Image.Image:
    """``base`` with every pixel inside the rectangles inverted (each one changes)."""
    pixels = base.copy()
    inside = np.zeros(base.shape[:2], dtype=bool)
    for x0, y0, x1, y1 in rectangles:
        inside[y0:y1, x0:x1] = True
    pixels[inside] = 255 - pixels[inside]
    return Image.fromarray(pixels)


def expected_change(
    layout: ViewLayout, rectangles: list, token_pixels: int
) -> tuple[np.ndarray, np.ndarray]:
    """(must change, may change) per token. A box overlapping a rectangle of whole pixels by
    at least one processed pixel (``s`` original pixels) plus one original pixel, in both
    directions, holds a processed pixel that the NEAREST resize sampled from inside the
    rectangle: it must change. A box more than one original pixel away from every rectangle
    (the sampling convention's rounding) must not."""
    across, down = strides(layout, token_pixels)
    tol_x, tol_y = across + 1, down + 1
    boxes = layout.boxes
    must = np.zeros(layout.grid_shape, dtype=bool)
    may = np.zeros(layout.grid_shape, dtype=bool)
    for x0, y0, x1, y1 in rectangles:
        overlap_x = np.minimum(boxes[..., 2], x1) - np.maximum(boxes[..., 0], x0)
        overlap_y = np.minimum(boxes[..., 3], y1) - np.maximum(boxes[..., 1], y0)
        must |= (overlap_x >= tol_x) & (overlap_y >= tol_y)
        may |= (overlap_x > -REACH) & (overlap_y > -REACH)
    return must, may


#: The released token grid of each view (Qwen-VL's follows the image; LLaVA-NeXT's tiles
#: are unpadded to the image's aspect ratio): 24 x 24 CLIP-336 patches, Gemma-3's 256
#: mm_tokens_per_image, InternVL's 256 per tile, Idefics3's 169 and SmolVLM's 81 per square.
RELEASED_GRIDS = {
    "llava": (24, 24),
    "llava_pad": (24, 24),
    "llava_next": (24, 24),
    "gemma3": (16, 16),
    "internvl": (16, 16),
    "idefics3": (13, 13),
    "smolvlm": (9, 9),
}

CASES = [(name, size) for name in VARIANTS for size in SIZES]
IDS = [f"{name}-{w}x{h}" for name, (w, h) in CASES]


@pytest.mark.parametrize(("name", "size"), CASES, ids=IDS)
def test_placeholders_are_the_views_and_boxes_stay_on_the_image(attributors, name, size):
    attributor, variant = attributors[name], VARIANTS[name]
    image = Image.fromarray(noise(size))
    inputs = attributor.encode([image], attributor.prompts(["What?"]))
    layouts = attributor.adapter.layouts(inputs, 0, size)
    ids = inputs["input_ids"][0].numpy()
    placeholders = np.flatnonzero(ids == attributor.adapter.image_token_id)
    in_views = np.concatenate([layout.positions.ravel() for layout in layouts])
    assert len(np.unique(in_views)) == len(in_views), "a token in two views"
    leftover = np.setdiff1d(placeholders, in_views)
    assert np.isin(in_views, placeholders).all()
    if variant.family == "llava_next":  # one image_newline after every row of tile features
        tiles = layouts[-1]
        np.testing.assert_array_equal(leftover, tiles.positions[:, -1] + 1)
    else:
        assert leftover.size == 0, f"{leftover.size} placeholders in no view"
    grid = RELEASED_GRIDS.get(variant.family)
    if grid is not None:
        assert layouts[0].grid_shape == grid
        assert all(layout.grid_shape == grid for layout in layouts if layout.name != "tiles")
    width, height = size
    for layout in layouts:
        boxes = layout.boxes
        assert (boxes[..., 2] > boxes[..., 0]).all() and (boxes[..., 3] > boxes[..., 1]).all()
        # A grid: each row shares its top and bottom, each column its left and right, and
        # neighbours meet edge to edge.
        np.testing.assert_allclose(boxes[:, 1:, 0], boxes[:, :-1, 2])
        np.testing.assert_allclose(boxes[1:, :, 1], boxes[:-1, :, 3])
        inside = (
            (boxes[..., :2] >= -1e-9).all()
            and (boxes[..., 2] <= width + 1e-9).all()
            and (boxes[..., 3] <= height + 1e-9).all()
        )
        assert inside or variant.pads, (layout.name, image_extent(layout, size))


@pytest.mark.parametrize(("name", "size"), CASES, ids=IDS)
def test_a_change_reaches_exactly_the_tokens_whose_boxes_overlap_it(
    attributors, name, size, monkeypatch
):
    attributor, variant = attributors[name], VARIANTS[name]
    monkeypatch.setattr(attributor.processor.image_processor, "resample", NEAREST)
    base = noise(size, seed=1)
    first = attributor.encode([Image.fromarray(base)], attributor.prompts(["What?"]))
    layouts = attributor.adapter.layouts(first, 0, size)
    named = probes(size, layouts, variant.token_pixels)
    images = [Image.fromarray(base), *(perturbed(base, rects) for rects in named.values())]
    embeds, inputs = input_embeddings(attributor, images)
    before = attributor.adapter.layouts(inputs, 0, size)
    for row, (probe, rectangles) in enumerate(named.items(), start=1):
        after = attributor.adapter.layouts(inputs, row, size)
        for view_before, view in zip(before, after, strict=True):
            change = np.abs(embeds[row][view.positions] - embeds[0][view_before.positions])
            changed = change.max(axis=-1) > 0
            must, may = expected_change(view, rectangles, variant.token_pixels)
            where = f"{probe}, view {view.name}"
            missing = np.argwhere(must & ~changed)
            assert missing.size == 0, (
                where,
                "unchanged over the change",
                view.boxes[tuple(missing[0])],
            )
            stray = np.argwhere(changed & ~may)
            assert stray.size == 0, (where, "changed away from it", view.boxes[tuple(stray[0])])
            if probe == "whole image":
                assert must.any(), f"view {view.name} sees no pixel of the image"


@pytest.mark.parametrize("size", [(1024, 683), (300, 1200)])
def test_llava_pad_tokens_over_the_background_are_never_evidence(attributors, size):
    """The pad-to-square view at 336 px: a loose evidence box reaching past the image's edge
    labels no token that sees only the pad background. Profiling and analysis label with
    ``view_labels(attribution.layer_views[layer], boxes)`` and no image size: the views carry
    it."""
    attributor = attributors["llava_pad"]
    width, height = size
    attribution = attributor.attribute(Image.fromarray(noise(size)), "What?")
    assert all(view.image_size == size for view in attribution.layer_views[0])
    boxes = np.concatenate([view.boxes.reshape(-1, 4) for view in attribution.layer_views[0]])
    over_padding = (boxes[:, 2] <= 0) | (boxes[:, 0] >= width)
    over_padding |= (boxes[:, 3] <= 0) | (boxes[:, 1] >= height)
    assert over_padding.sum() >= 24 * 6, "at least a quarter of the rows or columns are pad"
    loose = [[-50.0, -50.0, width + 50.0, height + 50.0]]
    assert evidence_labels(boxes, np.array(loose))[over_padding].any(), "were it not cut"
    for rule in ("any", "half", "all"):
        labels = view_labels(attribution.layer_views[0], loose, rule)
        assert not labels[over_padding].any(), rule
        assert labels[~over_padding].all(), rule


def test_smolvlm_tokens_stop_where_its_27_patches_of_14_px_do(attributors):
    """SmolVLM's 384-px squares hold 27 whole 14-px patches: 378 px seen, the last 6 reach no
    patch. A 2048 x 1536 image is split 4 x 3 (512 original px a square) plus the global view:
    each square's tokens end 8 px short of its right and bottom edges, the global view's 32 px
    short of the image's right edge and 24 px short of its bottom."""
    attributor = attributors["smolvlm"]
    inputs = attributor.encode([Image.fromarray(noise((2048, 1536)))], attributor.prompts(["q"]))
    layouts = attributor.adapter.layouts(inputs, 0, (2048, 1536))
    assert [layout.grid_shape for layout in layouts] == [(9, 9)] * 13
    *tiles, whole = layouts
    np.testing.assert_allclose(whole.boxes[-1, -1, 2:], [2048 * 378 / 384, 1536 * 378 / 384])
    np.testing.assert_allclose(whole.boxes[-1, -1, 2:], [2016, 1512])
    for index, tile in enumerate(tiles):
        row, col = divmod(index, 4)
        np.testing.assert_allclose(tile.boxes[0, 0, :2], [512 * col, 512 * row])
        np.testing.assert_allclose(tile.boxes[-1, -1, 2:], [512 * col + 504, 512 * row + 504])
