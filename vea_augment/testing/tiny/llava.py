"""Tiny LLaVA-1.5 (centre crop or pad to square) and LLaVA-NeXT (anyres tiles): CLIP + Llama."""

from __future__ import annotations

from typing import Any

from vea_augment.testing.tiny.dims import TinyRequest, text_config, vision_dims
from vea_augment.testing.tiny.tokenizer import LLAVA_SPECIAL, LLAVA_TEMPLATE, word_tokenizer


def _clip_and_llama(
    config_class: Any,
    processor_class: Any,
    image_processor: Any,
    dims: dict[str, Any],
    *,
    side: int,
    patch: int,
    image_token_field: str,
    **config_fields: Any,
) -> tuple[Any, Any]:
    """Config and processor of a LLaVA family: a CLIP tower of ``side``-px inputs, Llama text.

    The image token id is given under ``image_token_field`` (LLaVA-1.5 and LLaVA-NeXT name it
    differently); ``config_fields`` are the family's own config fields.
    """
    from transformers import CLIPVisionConfig, LlamaConfig

    tokenizer = word_tokenizer(LLAVA_SPECIAL, LLAVA_TEMPLATE, pad="<pad>", eos="</s>", bos="<s>")
    vision = CLIPVisionConfig(**vision_dims(image_size=side, patch_size=patch), projection_dim=32)
    config = config_class(
        vision_config=vision,
        text_config=LlamaConfig(**text_config(dims, tokenizer)),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        **{image_token_field: tokenizer.convert_tokens_to_ids("<image>")},
        **config_fields,
    )
    processor = processor_class(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=tokenizer.chat_template,
    )
    return config, processor


def build_llava(request: TinyRequest) -> tuple[Any, Any]:
    """Config and processor of LLaVA-1.5 at ``request.image_size``.

    Family ``llava`` centre-crops; ``llava_pad`` pads to a square first. ``request.geometry``
    may set the side (over ``request.image_size``) and the patch (default 14).
    """
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaImageProcessor, LlavaProcessor

    image_size = request.geometry.pick("image_size", request.image_size)
    patch = request.geometry.pick("patch_size", 14)
    geometry: dict[str, Any] = {
        "size": {"shortest_edge": image_size},
        "crop_size": {"height": image_size, "width": image_size},
        "do_center_crop": True,
    }
    # CLIPImageProcessor's own do_pad pads a batch to its largest size after resizing; LLaVA's
    # pad variant (expand2square: centre the image on a mean-colour square before resizing)
    # is LlavaImageProcessor(do_pad=True).
    if request.family == "llava_pad":
        image_processor = LlavaImageProcessor(**geometry, do_pad=True)
    else:
        image_processor = CLIPImageProcessor(**geometry)
    return _clip_and_llama(
        LlavaConfig,
        LlavaProcessor,
        image_processor,
        request.dims,
        side=image_size,
        patch=patch,
        image_token_field="image_token_id",
    )


def build_llava_next(request: TinyRequest) -> tuple[Any, Any]:
    """Config and processor of LLaVA-NeXT: 42-px CLIP tiles (6 × 6 patches) on anyres grids.

    The grid pinpoints are the released ones (336-px tiles: 1×2, 2×1, 2×2, 1×3, 3×1) scaled to
    the tiny tile side; ``request.geometry`` may set the tile and the patch.
    """
    from transformers import LlavaNextConfig, LlavaNextImageProcessor, LlavaNextProcessor

    tile = request.geometry.pick("image_size", 42)
    patch = request.geometry.pick("patch_size", 7)
    pinpoints = [[tile * h, tile * w] for h, w in ((1, 2), (2, 1), (2, 2), (3, 1), (1, 3))]
    image_processor = LlavaNextImageProcessor(
        size={"shortest_edge": tile},
        crop_size={"height": tile, "width": tile},
        image_grid_pinpoints=pinpoints,
    )
    return _clip_and_llama(
        LlavaNextConfig,
        LlavaNextProcessor,
        image_processor,
        request.dims,
        side=tile,
        patch=patch,
        image_token_field="image_token_index",
        image_grid_pinpoints=pinpoints,
    )
