"""The models the benchmark loads: a tiny Qwen2.5-VL and Qwen2.5-VL-7B's architecture."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vea_augment.models.loading import load_model_and_processor
from vea_augment.options import ModelOptions
from vea_augment.testing.tiny import build_tiny_checkpoint

#: Qwen2.5-VL's released processor limit (16384 tokens of 28 × 28 px): admits 2240².
MAX_PIXELS = 16384 * 28 * 28


@dataclass(frozen=True)
class Arch:
    """A model to benchmark: what it is, where to attribute, how to load it on a device."""

    description: str
    layers: tuple[int, ...]
    dtype: torch.dtype
    load: Callable[[Path, str], tuple[Any, Any]]


def load_tiny(directory: Path, device: str) -> tuple[Any, Any]:
    """The tiny Qwen2.5-VL checkpoint itself, float32, through the project's loader."""
    return load_model_and_processor(directory, ModelOptions(dtype="float32", device=device))


def qwen25_vl_7b_config(tiny_config: Any) -> Any:
    """Qwen2.5-VL-7B-Instruct's published config, with the tiny tokenizer's special-token ids."""
    from transformers import Qwen2_5_VLConfig

    text = {
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "vocab_size": 152064,
        "max_position_embeddings": 128000,
        "rms_norm_eps": 1e-6,
        "hidden_act": "silu",
        "tie_word_embeddings": False,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 1e6,
            "mrope_section": [16, 24, 24],
        },
        "pad_token_id": tiny_config.text_config.pad_token_id,
        "eos_token_id": tiny_config.text_config.eos_token_id,
        "bos_token_id": None,
    }
    vision = {
        "depth": 32,
        "hidden_size": 1280,
        "num_heads": 16,
        "intermediate_size": 3420,
        "out_hidden_size": 3584,
        "hidden_act": "silu",
        "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "tokens_per_second": 2,
    }
    ids = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id")
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=False,
        **{name: getattr(tiny_config, name) for name in ids},
    )


def load_qwen25_vl_7b(directory: Path, device: str) -> tuple[Any, Any]:
    """Qwen2.5-VL-7B's architecture with random bf16 weights drawn on ``device``.

    The processor (and its special-token ids) is the tiny checkpoint's: the same
    Qwen2.5-VL image processor (patch 14, merge 2, CLIP statistics) as the released model,
    with a word-level tokenizer, so prompts are a few tokens longer than with Qwen's own.
    """
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

    config = qwen25_vl_7b_config(AutoConfig.from_pretrained(directory))
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForImageTextToText.from_config(
            config, dtype=torch.bfloat16, attn_implementation="sdpa"
        )
    processor = AutoProcessor.from_pretrained(directory)
    processor.tokenizer.padding_side = "left"
    return model.eval(), processor


ARCHS: dict[str, Arch] = {
    "tiny": Arch(
        "tiny Qwen2.5-VL (8 decoder layers, hidden 64; vision depth 2, hidden 32), "
        "random float32 weights",
        (4, 5, 6),
        torch.float32,
        load_tiny,
    ),
    "qwen2.5-vl-7b": Arch(
        "Qwen2.5-VL-7B-Instruct architecture (28 layers, hidden 3584; vision depth 32), "
        "random bf16 weights",
        (18, 22, 24),
        torch.bfloat16,
        load_qwen25_vl_7b,
    ),
}


def build_checkpoint(directory: Path) -> Path:
    """The tiny Qwen2.5-VL checkpoint: the tiny arch's weights, both archs' processor."""
    return build_tiny_checkpoint("qwen2_5_vl", directory, num_layers=8, max_pixels=MAX_PIXELS)
