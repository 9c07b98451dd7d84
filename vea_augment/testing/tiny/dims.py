"""What every tiny family builder receives, and the config fields the families share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TinyRequest:
    """One build's choices: the family, its text-model dims and the two image knobs.

    ``image_size`` is read by LLaVA-1.5 only and ``max_pixels`` by Qwen-VL only; the other
    families have fixed tiny geometries.
    """

    family: str
    dims: dict[str, Any]
    image_size: int
    max_pixels: int | None


def text_dims(
    num_layers: int, num_heads: int, num_kv_heads: int, hidden_size: int
) -> dict[str, Any]:
    """Text-model config fields; refuses head counts that would not be grouped-query attention."""
    if num_kv_heads >= num_heads or num_heads % num_kv_heads:
        raise ValueError("tiny models use grouped-query attention: num_kv_heads < num_heads")
    return {
        "hidden_size": hidden_size,
        "intermediate_size": 2 * hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_heads,
        "num_key_value_heads": num_kv_heads,
        "max_position_embeddings": 16384,
    }


def text_config(dims: dict[str, Any], tokenizer: Any) -> dict[str, Any]:
    """``dims`` plus the vocabulary size and pad, bos and eos token ids of ``tokenizer``.

    ``bos_token_id`` is None (given explicitly, so no family default applies) when the
    tokenizer has no bos token.
    """
    return {
        **dims,
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
    }


def vision_dims(**geometry: Any) -> dict[str, Any]:
    """The tiny ViT every non-Qwen vision tower uses (2 layers, 2 heads, width 32), plus
    ``geometry`` (image and patch size in each config's own field names)."""
    return {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        **geometry,
    }
