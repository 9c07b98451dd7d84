"""The visual-grounding layers L_VG the paper published (0-based decoder layer indices).

These are the paper's own profiling results (arXiv 2510.17771); ``augment`` uses them when a
known checkpoint is given without ``--profile`` or ``--layers``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedLayers:
    """A checkpoint's published L_VG and its decoder depth L (|L_VG| = ceil(0.1 L))."""

    model_id: str
    layers: tuple[int, ...]
    num_layers: int


PUBLISHED_LAYERS: dict[str, PublishedLayers] = {
    entry.model_id: entry
    for entry in (
        PublishedLayers("llava-hf/llava-1.5-7b-hf", (14, 15, 17, 19), 32),
        PublishedLayers("llava-hf/llava-1.5-13b-hf", (13, 14, 15, 16), 40),
        PublishedLayers("Qwen/Qwen2.5-VL-7B-Instruct", (18, 22, 24), 28),
        PublishedLayers("Qwen/Qwen2.5-VL-32B-Instruct", (49, 50, 51, 52, 53, 55, 56), 64),
        PublishedLayers("google/gemma-3-4b-it", (17, 19, 21, 23), 34),
        PublishedLayers("google/gemma-3-27b-it", (35, 37, 40, 41, 47, 53, 58), 62),
    )
}


def published_layers_for(model_id: str) -> PublishedLayers | None:
    """The published entry for a hub id (case-insensitive; a trailing '/' is ignored)."""
    wanted = model_id.rstrip("/").lower()
    for key, entry in PUBLISHED_LAYERS.items():
        if key.lower() == wanted:
            return entry
    return None
