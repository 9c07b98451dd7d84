"""Tiny Qwen2-VL, Qwen2.5-VL and Qwen3-VL: dynamic-resolution patches merged 2 × 2, M-RoPE."""

from __future__ import annotations

from typing import Any

from vea_augment.testing.tiny.dims import TinyRequest, text_config
from vea_augment.testing.tiny.tokenizer import QWEN_SPECIAL, QWEN_TEMPLATE, word_tokenizer


def _mrope_section(head_dim: int, *, interleaved: bool) -> list[int]:
    """Temporal, height and width rotary pairs summing to ``head_dim // 2``.

    The split keeps the released proportions: Qwen2/2.5-VL use [16, 24, 24] of 64 pairs
    (contiguous blocks), Qwen3-VL uses [24, 20, 20] of 64 (interleaved, where height and width
    take every third pair, so each may hold at most a third of the pairs).
    """
    pairs = head_dim // 2
    if interleaved:
        height = width = pairs * 5 // 16
        return [pairs - height - width, height, width]
    temporal = pairs // 4
    height = (pairs - temporal) // 2
    return [temporal, height, pairs - temporal - height]


def build_qwen(request: TinyRequest) -> tuple[Any, Any]:
    """Config and processor of a Qwen-VL family whose token ids match its tokenizer.

    ``request.max_pixels`` bounds the resize (default: 64 merged tokens' worth of pixels);
    ``request.geometry`` may set the patch and merge sizes and both resize bounds (default:
    14-px patches, 16 for Qwen3-VL, merged 2 x 2, at least 4 merged tokens' worth of pixels).
    """
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLProcessor,
        Qwen2VLConfig,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
        Qwen3VLConfig,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    family, dims = request.family, request.dims
    tokenizer = word_tokenizer(QWEN_SPECIAL, QWEN_TEMPLATE, pad="<|endoftext|>", eos="<|im_end|>")
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in QWEN_SPECIAL}
    head_dim = dims["hidden_size"] // dims["num_attention_heads"]
    mrope = _mrope_section(head_dim, interleaved=family == "qwen3_vl")
    geometry = request.geometry
    patch = geometry.pick("patch_size", 16 if family == "qwen3_vl" else 14)
    merge = geometry.pick("merge", 2)
    pixels = geometry.pick("max_pixels", request.max_pixels or (patch * merge) ** 2 * 64)
    size = {
        "shortest_edge": geometry.pick("min_pixels", (patch * merge) ** 2 * 4),
        "longest_edge": pixels,
    }
    # Qwen3-VL normalises to [-1, 1]; Qwen2/2.5-VL keep the CLIP statistics.
    stats = {"image_mean": [0.5] * 3, "image_std": [0.5] * 3} if family == "qwen3_vl" else {}
    image_processor = Qwen2VLImageProcessor(patch_size=patch, merge_size=merge, size=size, **stats)
    text = {
        **text_config(dims, tokenizer),
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope},
    }
    vision: dict[str, Any] = {
        "depth": 2,
        "num_heads": 2,
        "patch_size": patch,
        "spatial_merge_size": merge,
    }
    token_ids = {
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
    }
    if family == "qwen2_vl":
        vision.update(embed_dim=32, hidden_size=dims["hidden_size"], mlp_ratio=2)
    else:
        # Qwen2.5-VL and Qwen3-VL size the tower apart from the text model and project to it.
        vision.update(hidden_size=32, intermediate_size=64, out_hidden_size=dims["hidden_size"])
    if family == "qwen2_5_vl":
        vision.update(window_size=56, fullatt_block_indexes=[1])
    elif family == "qwen3_vl":
        text["head_dim"] = head_dim
        text["rope_parameters"]["mrope_interleaved"] = True
        vision.update(num_position_embeddings=64, deepstack_visual_indexes=[0])
    config_class, processor_class, video = {
        "qwen2_vl": (Qwen2VLConfig, Qwen2VLProcessor, Qwen2VLVideoProcessor),
        "qwen2_5_vl": (Qwen2_5_VLConfig, Qwen2_5_VLProcessor, Qwen2VLVideoProcessor),
        "qwen3_vl": (Qwen3VLConfig, Qwen3VLProcessor, Qwen3VLVideoProcessor),
    }[family]
    config = config_class(text_config=text, vision_config=vision, **token_ids)
    video_processor = video(patch_size=patch, merge_size=merge, **stats)
    processor = processor_class(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=tokenizer.chat_template,
    )
    return config, processor
