"""The augment job the tests run: the tiny Qwen2-VL of conftest's ``model_dir``, layers 1
and 2, float32 on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vea_augment.jobs.augment import AugmentJob
from vea_augment.options import MAX_IMAGE_PIXELS, ModelOptions
from vea_augment.steps.augment import AugmentSettings


def tiny_augment_job(
    source: str,
    output: str | Path,
    model_dir: Path,
    *,
    batch_size: int = 4,
    max_pixels: int = MAX_IMAGE_PIXELS,
    **overrides: Any,
) -> AugmentJob:
    """An augment job of ``source`` into ``output``; ``overrides`` set any other job field."""
    return AugmentJob(
        input=source,
        output=output,
        model=str(model_dir),
        layers=(1, 2),
        loading=ModelOptions(dtype="float32", device="cpu"),
        settings=AugmentSettings(batch_size=batch_size, max_pixels=max_pixels),
        **overrides,
    )
