"""Tiny Gemma-3: a square SigLIP view pooled to 6 × 6 tokens, sliding-window text layers."""

from __future__ import annotations

from typing import Any

import torch

from vea_augment.testing.tiny.dims import TinyRequest, text_config, vision_dims
from vea_augment.testing.tiny.tokenizer import GEMMA3_SPECIAL, GEMMA3_TEMPLATE, word_tokenizer

#: Gemma-3's tiny sliding window, in tokens: shorter than the VQA prompt.
GEMMA3_SLIDING_WINDOW = 96


def build_gemma3(request: TinyRequest) -> tuple[Any, Any]:
    """Config and processor of Gemma-3: a 48-px square SigLIP view of 4-px patches pooled 2 × 2
    to 6 × 6 tokens (``request.geometry`` may set the view, the patch and the pooling kernel).

    Like the released models the attention scale is ``query_pre_attn_scalar ** -0.5`` with
    ``query_pre_attn_scalar != head_dim``, and sliding-window layers alternate with global ones;
    the window (``GEMMA3_SLIDING_WINDOW`` tokens) is shorter than a VQA prompt, so the last
    token of a sliding layer sees only part of the image.
    """
    from transformers import Gemma3Config, Gemma3ImageProcessor, Gemma3Processor

    named = {
        "bos_token": "<bos>",
        "boi_token": "<start_of_image>",
        "eoi_token": "<end_of_image>",
        "image_token": "<image_soft_token>",
    }
    tokenizer = word_tokenizer(
        GEMMA3_SPECIAL, GEMMA3_TEMPLATE, pad="<pad>", eos="<end_of_turn>", named=named
    )
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in GEMMA3_SPECIAL}
    dims = request.dims
    head_dim = dims["hidden_size"] // dims["num_attention_heads"]
    layers = dims["num_hidden_layers"]
    text = {
        **text_config(dims, tokenizer),
        "head_dim": head_dim,
        "query_pre_attn_scalar": head_dim + 8,
        "sliding_window": GEMMA3_SLIDING_WINDOW,
        "layer_types": [
            "full_attention" if index % 2 else "sliding_attention" for index in range(layers)
        ],
    }
    geometry = request.geometry
    image_size = geometry.pick("image_size", 48)
    patch = geometry.pick("patch_size", 4)
    tokens_per_side = image_size // patch // geometry.pick("merge", 2)
    vision = {
        "model_type": "siglip_vision_model",
        **vision_dims(image_size=image_size, patch_size=patch, vision_use_head=False),
    }
    config = Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=tokens_per_side**2,
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
    )
    image_processor = Gemma3ImageProcessor(
        size={"height": image_size, "width": image_size},
        image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
    )
    processor = Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template,
        image_seq_length=tokens_per_side**2,
    )
    return config, processor


def randomize_projector(model: Any) -> None:
    """Draw the projector weights a fresh Gemma-3 holds at zero (it learns them from scratch).

    Left at zero, every image maps to the same tokens and no test could see its geometry.
    """
    weight = model.model.multi_modal_projector.mm_input_projection_weight
    with torch.no_grad():
        weight.normal_(std=weight.shape[0] ** -0.5)
