"""Tiny random-weight checkpoints of real VLM classes, built offline for tests and benchmarks.

Each checkpoint is a real transformers model class (``Qwen2VLForConditionalGeneration``,
``LlavaForConditionalGeneration``, ``Gemma3ForConditionalGeneration``,
``LlavaNextForConditionalGeneration``, ``InternVLForConditionalGeneration``,
``Idefics3ForConditionalGeneration``, ``SmolVLMForConditionalGeneration``, ...) with tiny
dimensions, a real processor of the family and a word-level tokenizer carrying the family's
special tokens and a chat template. It is saved with ``save_pretrained``, so the same
``from_pretrained`` code that loads a hub model loads it. Grouped-query attention is on (fewer
key/value heads than query heads).

One module per family builds its config and processor (``qwen``, ``llava``, ``gemma3``,
``internvl``, ``idefics3``); ``tokenizer`` holds the shared tokenizer and chat templates,
``dims`` the shared config fields and the geometry (:class:`TinyGeometry`; the released
checkpoints' in ``RELEASED_GEOMETRY``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vea_augment.testing.tiny.dims import (
    RELEASED_GEOMETRY,
    TinyGeometry,
    TinyRequest,
    text_dims,
)
from vea_augment.testing.tiny.gemma3 import GEMMA3_SLIDING_WINDOW, build_gemma3, randomize_projector
from vea_augment.testing.tiny.idefics3 import build_idefics3
from vea_augment.testing.tiny.internvl import INTERNVL_MAX_TILES, build_internvl
from vea_augment.testing.tiny.llava import build_llava, build_llava_next
from vea_augment.testing.tiny.qwen import build_qwen

__all__ = [
    "GEMMA3_SLIDING_WINDOW",
    "INTERNVL_MAX_TILES",
    "RELEASED_GEOMETRY",
    "TINY_FAMILIES",
    "TinyGeometry",
    "build_tiny_checkpoint",
]

# Family name -> builder of its (config, processor); the order is TINY_FAMILIES'.
_BUILDERS: dict[str, Callable[[TinyRequest], tuple[Any, Any]]] = {
    "qwen2_vl": build_qwen,
    "qwen2_5_vl": build_qwen,
    "qwen3_vl": build_qwen,
    "llava": build_llava,
    "llava_pad": build_llava,
    "gemma3": build_gemma3,
    "llava_next": build_llava_next,
    "internvl": build_internvl,
    "idefics3": build_idefics3,
    "smolvlm": build_idefics3,
}

TINY_FAMILIES: tuple[str, ...] = tuple(_BUILDERS)


def build_tiny_checkpoint(
    family: str,
    directory: str | Path,
    *,
    seed: int = 0,
    num_layers: int = 4,
    num_heads: int = 4,
    num_kv_heads: int = 2,
    hidden_size: int = 64,
    image_size: int = 56,
    max_pixels: int | None = None,
    vision_overrides: dict[str, Any] | None = None,
    geometry: TinyGeometry | None = None,
) -> Path:
    """Build and save a tiny ``family`` checkpoint in ``directory``; return the directory.

    ``vision_overrides`` replaces vision-config fields (e.g. a wider Qwen2-VL vision tower
    for the bundled demo model: ``{"embed_dim": 128, "num_heads": 4}``).

    Weights are drawn from ``seed``, so two builds with the same arguments are identical.
    ``image_size`` is LLaVA-1.5's square input side; ``max_pixels`` bounds Qwen's resize. The
    other families have tiny default geometries (their builders say which): Gemma-3 (48-px
    square, pan-and-scan available), LLaVA-NeXT (42-px anyres tiles), InternVL (32-px tiles),
    Idefics3 and SmolVLM (32-px squares). ``geometry`` overrides any of them, e.g.
    ``RELEASED_GEOMETRY[family]`` for the released image, patch, merge and tile sizes with the
    tiny widths; left out, each family keeps its tiny default geometry, byte for byte.
    """
    from transformers import AutoModelForImageTextToText

    if family not in TINY_FAMILIES:
        raise ValueError(f"unknown tiny family {family!r}; supported: {', '.join(TINY_FAMILIES)}")
    dims = text_dims(num_layers, num_heads, num_kv_heads, hidden_size)
    request = TinyRequest(
        family=family,
        dims=dims,
        image_size=image_size,
        max_pixels=max_pixels,
        geometry=geometry or TinyGeometry(),
    )
    config, processor = _BUILDERS[family](request)
    for field_name, value in (vision_overrides or {}).items():
        if not hasattr(config.vision_config, field_name):
            raise ValueError(f"{family}'s vision config has no field {field_name!r}")
        setattr(config.vision_config, field_name, value)
    # The seed comes right before the model's own initialisation, and the draws that follow
    # it are fixed in order: the bundled demo model is retrained from these exact weights.
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config, dtype=torch.float32)
    if family == "gemma3":
        randomize_projector(model)
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    processor.save_pretrained(target)
    return target
