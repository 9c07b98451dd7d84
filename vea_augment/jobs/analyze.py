"""The ``analyze`` job: load one model, diagnose the first samples of a source, write the
tables and figures. It runs in this process (one model, about a hundred samples)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from vea_augment.answering.transformers_backend import TransformersBackend
from vea_augment.attribution import Attributor
from vea_augment.options import (
    ANALYZE_PROTOCOL,
    ATTRIBUTION_BATCH_SIZE,
    MAX_IMAGE_PIXELS,
    TOP_FRAC,
    InputOptions,
    ModelOptions,
)
from vea_augment.reports.analysis import write_plots, write_tables
from vea_augment.steps.analyze import Analysis, run_analysis
from vea_augment.steps.profile import collect_profile_samples


def analyze_source(
    source: str,
    output: Path,
    model: str,
    load: ModelOptions,
    limit: int,
    given_layers: Sequence[int] | None = None,
    top_frac: float = TOP_FRAC,
    batch_size: int = ATTRIBUTION_BATCH_SIZE,
    show_progress: bool = True,
    reading: InputOptions | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
    protocol: str = ANALYZE_PROTOCOL,
) -> tuple[Analysis, list[Path]]:
    """Diagnose the first ``limit`` samples of ``source`` with ``model`` (loaded with
    ``load``) and write the tables and figures into ``output``.

    ``reading`` says how to read the source, ``max_pixels`` which images to refuse,
    ``protocol`` which scoring protocol splits right from wrong answers. Returns
    the analysis and the paths written.
    """
    samples, excluded = collect_profile_samples(
        source, limit, reading, max_pixels, require_boxes=False
    )
    attributor = Attributor.from_pretrained(model, [0], load)
    answerer = TransformersBackend(
        attributor.model, attributor.processor, attributor.model_id, batch_size
    )
    with tqdm(total=len(samples), unit="sample", desc="analyze",
              disable=not show_progress) as bar:  # fmt: skip
        analysis = run_analysis(
            attributor,
            answerer,
            samples,
            excluded,
            given_layers,
            top_frac,
            batch_size=batch_size,
            progress=bar.update,
            protocol=protocol,
        )
    return analysis, write_tables(analysis, output) + write_plots(analysis, output)
