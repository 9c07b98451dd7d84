"""The visual-grounding layers L_VG the paper published (0-based decoder layer indices).

These are the paper's own profiling results (arXiv 2510.17771); ``augment`` uses them when a
known checkpoint is given without ``--profile`` or ``--layers``. They also ship as profile
files (``models/data/profiles/``, written by ``python -m vea_augment.models.published_layers``)
so ``augment --profile MODEL_ID`` loads a profile like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vea_augment.schemas.profile import LayerProfile


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


PROFILE_DIR = Path(__file__).with_name("data") / "profiles"


def profile_file_name(model_id: str) -> str:
    """``Qwen/Qwen2.5-VL-7B-Instruct`` -> ``Qwen--Qwen2.5-VL-7B-Instruct.json``."""
    return model_id.rstrip("/").replace("/", "--") + ".json"


def published_profile(entry: PublishedLayers) -> LayerProfile:
    """The paper's published L_VG of one checkpoint, as a profile augment can load."""
    return LayerProfile(
        model_id=entry.model_id,
        num_layers=entry.num_layers,
        top_frac=0.1,
        chosen_layers=list(entry.layers),
        sample_count=0,
        source="published",
    )


def shipped_profile_path(model_id: str) -> Path | None:
    """The profile file shipped for a checkpoint with published layers, if there is one."""
    entry = published_layers_for(model_id)
    if entry is None:
        return None
    path = PROFILE_DIR / profile_file_name(entry.model_id)
    return path if path.is_file() else None


def export_published_profiles(directory: Path = PROFILE_DIR) -> list[Path]:
    """Write one profile JSON per published checkpoint (run after changing the table)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in PUBLISHED_LAYERS.values():
        path = directory / profile_file_name(entry.model_id)
        path.write_text(published_profile(entry).model_dump_json(indent=2) + "\n", "utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in export_published_profiles():
        print(written_path)
