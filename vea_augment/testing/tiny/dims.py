"""What every tiny family builder receives, and the config fields the families share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TinyGeometry:
    """A tiny checkpoint's image geometry; a field left None keeps the family's tiny default.

    ``image_size``: the vision tower's square input side (LLaVA-1.5's crop, LLaVA-NeXT's and
    InternVL's tile, Gemma-3's view, Idefics3's and SmolVLM's square; Qwen-VL has none).
    ``patch_size``: the vision patch side. ``merge``: patches per image-token side (Qwen-VL's
    spatial merge, Gemma-3's pooling kernel, InternVL's ``1 / downsample_ratio``, Idefics3's
    and SmolVLM's pixel-shuffle scale factor; LLaVA has none). ``longest_edge``: Idefics3's
    and SmolVLM's first resize. ``max_tiles``: InternVL's ``max_patches``. ``min_pixels`` and
    ``max_pixels``: Qwen-VL's resize bounds. :data:`RELEASED_GEOMETRY` holds the released
    checkpoints' values.
    """

    image_size: int | None = None
    patch_size: int | None = None
    merge: int | None = None
    longest_edge: int | None = None
    max_tiles: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None

    def pick(self, name: str, default: Any) -> Any:
        """This geometry's ``name``, or ``default`` where it is None."""
        value = getattr(self, name)
        return default if value is None else value


#: The released processors' and vision towers' geometry, family by family, each from the
#: checkpoint named above it (its preprocessor_config.json and config.json), not from the
#: transformers class defaults, which differ for Qwen2/2.5-VL (max_pixels 28 * 28 * 1280) and
#: Idefics3/SmolVLM (364-px squares for both).
RELEASED_GEOMETRY: dict[str, TinyGeometry] = {
    # Qwen/Qwen2-VL-7B-Instruct and Qwen/Qwen2.5-VL-7B-Instruct preprocessor_config.json.
    "qwen2_vl": TinyGeometry(patch_size=14, merge=2, min_pixels=3136, max_pixels=12845056),
    "qwen2_5_vl": TinyGeometry(patch_size=14, merge=2, min_pixels=3136, max_pixels=12845056),
    # Qwen/Qwen3-VL-8B-Instruct preprocessor_config.json ("size" holds the pixel bounds).
    "qwen3_vl": TinyGeometry(patch_size=16, merge=2, min_pixels=65536, max_pixels=16777216),
    # llava-hf/llava-1.5-7b-hf: CLIP ViT-L/14-336, shortest edge and centre crop 336.
    "llava": TinyGeometry(image_size=336, patch_size=14),
    "llava_pad": TinyGeometry(image_size=336, patch_size=14),
    # llava-hf/llava-v1.6-*-hf: 336-px tiles on the 1x2, 2x1, 2x2, 3x1, 1x3 pinpoints.
    "llava_next": TinyGeometry(image_size=336, patch_size=14),
    # google/gemma-3-*-it: 896-px SigLIP, 14-px patches pooled 4x4 to 256 tokens.
    "gemma3": TinyGeometry(image_size=896, patch_size=14, merge=4),
    # OpenGVLab/InternVL3-*-hf: 448-px tiles, 14-px patches, downsample 0.5, up to 12 tiles.
    "internvl": TinyGeometry(image_size=448, patch_size=14, merge=2, max_tiles=12),
    # HuggingFaceM4/Idefics3-8B-Llama3: 364-px squares (26 patches), scale 2, longest 4 x 364.
    "idefics3": TinyGeometry(image_size=364, patch_size=14, merge=2, longest_edge=1456),
    # HuggingFaceTB/SmolVLM-Instruct: 384-px squares (27 patches: 378 px seen), scale 3,
    # longest edge 1536.
    "smolvlm": TinyGeometry(image_size=384, patch_size=14, merge=3, longest_edge=1536),
}


@dataclass(frozen=True)
class TinyRequest:
    """One build's choices: the family, its text-model dims and its image geometry.

    ``image_size`` (LLaVA-1.5's square side) and ``max_pixels`` (Qwen-VL's resize bound) are
    the two older knobs; ``geometry`` overrides them and sets every other family's geometry.
    """

    family: str
    dims: dict[str, Any]
    image_size: int
    max_pixels: int | None
    geometry: TinyGeometry = field(default_factory=TinyGeometry)


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
