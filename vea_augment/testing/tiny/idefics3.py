"""Tiny Idefics3 and SmolVLM: images split into 32-px squares plus the global image."""

from __future__ import annotations

from typing import Any

from vea_augment.testing.tiny.dims import TinyRequest, text_config, vision_dims
from vea_augment.testing.tiny.tokenizer import IDEFICS3_SPECIAL, IDEFICS3_TEMPLATE, word_tokenizer


def build_idefics3(request: TinyRequest) -> tuple[Any, Any]:
    """Config and processor of Idefics3 or SmolVLM (``request.family``): 32-px squares.

    The processor resizes the longest edge to ``3 × 32`` px (the released ones use 4 × 364 and
    4 × 384), splits it into up to 3 × 3 squares of 8 × 8 patches and adds the global image;
    the connector pixel-shuffles each square (scale factor 2) to 4 × 4 tokens.
    ``request.geometry`` may set the square, the patch, the scale factor and the longest edge.
    """
    from transformers import (
        Idefics3Config,
        Idefics3ImageProcessor,
        Idefics3Processor,
        SmolVLMConfig,
        SmolVLMImageProcessor,
        SmolVLMProcessor,
        SmolVLMVideoProcessor,
    )

    named = {
        "fake_image_token": "<fake_token_around_image>",
        "image_token": "<image>",
        "global_image_token": "<global-img>",
        "end_of_utterance_token": "<end_of_utterance>",
        "video_token": "<video>",
    }
    tokenizer = word_tokenizer(
        IDEFICS3_SPECIAL, IDEFICS3_TEMPLATE, pad="<pad>", eos="<end_of_utterance>", named=named
    )
    geometry = request.geometry
    square, patch = geometry.pick("image_size", 32), geometry.pick("patch_size", 4)
    scale = geometry.pick("merge", 2)
    tokens_per_square = (square // patch // scale) ** 2
    fields = {
        "vision_config": vision_dims(image_size=square, patch_size=patch),
        "text_config": {**text_config(request.dims, tokenizer), "model_type": "llama"},
        "image_token_id": tokenizer.convert_tokens_to_ids("<image>"),
        "scale_factor": scale,
    }
    edges = {
        "size": {"longest_edge": geometry.pick("longest_edge", 3 * square)},
        "max_image_size": {"longest_edge": square},
    }
    common = {
        "tokenizer": tokenizer,
        "image_seq_len": tokens_per_square,
        "chat_template": tokenizer.chat_template,
    }
    if request.family == "idefics3":
        config = Idefics3Config(**fields)
        processor = Idefics3Processor(
            image_processor=Idefics3ImageProcessor(**edges, do_image_splitting=True), **common
        )
    else:
        config = SmolVLMConfig(**fields)
        processor = SmolVLMProcessor(
            image_processor=SmolVLMImageProcessor(**edges, do_image_splitting=True),
            video_processor=SmolVLMVideoProcessor(**edges),
            **common,
        )
    return config, processor
