"""Tiny InternVL (transformers-native, InternVL3 layout): pixel-shuffled 32-px tiles."""

from __future__ import annotations

from typing import Any

from vea_augment.testing.tiny.dims import TinyRequest, text_config, vision_dims
from vea_augment.testing.tiny.tokenizer import INTERNVL_SPECIAL, INTERNVL_TEMPLATE, word_tokenizer

#: InternVL's tiny maximum number of tiles (the released processors allow 12).
INTERNVL_MAX_TILES = 6


def build_internvl(request: TinyRequest) -> tuple[Any, Any]:
    """Config and processor of InternVL (transformers-native, InternVL3 layout).

    32-px tiles of 8 × 8 patches, pixel-shuffled (``downsample_ratio`` 0.5) to 4 × 4 tokens;
    up to ``INTERNVL_MAX_TILES`` tiles chosen by aspect ratio, plus the thumbnail
    (``request.geometry`` may set the tile, the patch, the shuffle and the most tiles).
    """
    from transformers import (
        GotOcr2ImageProcessor,
        InternVLConfig,
        InternVLProcessor,
        InternVLVideoProcessor,
    )

    named = {
        "start_image_token": "<img>",
        "end_image_token": "</img>",
        "context_image_token": "<IMG_CONTEXT>",
        "video_token": "<video>",
    }
    tokenizer = word_tokenizer(
        INTERNVL_SPECIAL, INTERNVL_TEMPLATE, pad="<|endoftext|>", eos="<|im_end|>", named=named
    )
    geometry = request.geometry
    tile, patch = geometry.pick("image_size", 32), geometry.pick("patch_size", 4)
    ratio = 1 / geometry.pick("merge", 2)
    tokens_per_tile = int((tile // patch * ratio) ** 2)
    config = InternVLConfig(
        vision_config=vision_dims(image_size=[tile, tile], patch_size=[patch, patch]),
        text_config={**text_config(request.dims, tokenizer), "model_type": "qwen2"},
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"),
        image_seq_length=tokens_per_tile,
        downsample_ratio=ratio,
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    size = {"height": tile, "width": tile}
    image_processor = GotOcr2ImageProcessor(
        size=size,
        crop_to_patches=True,
        min_patches=1,
        max_patches=geometry.pick("max_tiles", INTERNVL_MAX_TILES),
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    processor = InternVLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=InternVLVideoProcessor(size=size),
        image_seq_length=tokens_per_tile,
        chat_template=tokenizer.chat_template,
    )
    return config, processor
