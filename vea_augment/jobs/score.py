"""The ``score`` job: read ``predictions.jsonl``, score it, write the report files.

The numbers come from :mod:`vea_augment.steps.score`, the Markdown and the chart from
:mod:`vea_augment.reports.score_report`; this module only joins them to the file system.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from vea_augment.errors import ConfigError
from vea_augment.options import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from vea_augment.reports.score_report import plot_score_chart, render_markdown
from vea_augment.schemas.report import ScoreReport
from vea_augment.steps.score import (
    LoadedPredictions,
    has_references,
    read_predictions,
    score_predictions,
)
from vea_augment.steps.score_protocols import scoring_plan

logger = logging.getLogger(__name__)


def output_paths(output_prefix: Path) -> tuple[Path, Path, Path]:
    """``<prefix>.json``, ``.md`` and ``.png``: the suffix is appended, never swapped."""
    prefix = str(output_prefix)
    return Path(prefix + ".json"), Path(prefix + ".md"), Path(prefix + ".png")


def _log_skipped(loaded: LoadedPredictions, excluded: int) -> None:
    for bad in loaded.malformed_lines:
        logger.warning("skipped line %d of predictions: %s", bad.line, bad.reason)
    if loaded.duplicates_replaced:
        logger.warning(
            "%d duplicate prediction(s) replaced by a later line", loaded.duplicates_replaced
        )
    if excluded:
        logger.warning("%d prediction(s) without references excluded from scoring", excluded)


def write_score_report(
    predictions_path: Path,
    output_prefix: Path,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    protocols: str | Sequence[str] | None = None,
) -> tuple[ScoreReport, list[Path]]:
    """Read, score and write ``<prefix>.json``, ``<prefix>.md`` and ``<prefix>.png``.

    ``protocols`` names the scoring protocols (``"paper,strict"``); None shows the defaults
    of :data:`~vea_augment.options.SCORE_PROTOCOLS`, each where it applies.

    Promises: the JSON validates against :class:`ScoreReport`; the Markdown lists skipped lines
    and excluded predictions; skipped lines are also logged as warnings (stderr by default).
    Returns the report and the three paths written. Raises :class:`ConfigError` when the file
    holds no valid prediction or none of them has references, or for an unknown protocol.
    """
    scoring_plan(protocols)  # an unknown protocol fails before the file is read
    loaded = read_predictions(predictions_path)
    excluded = sum(not has_references(p) for p in loaded.predictions)
    if excluded == len(loaded.predictions):
        raise ConfigError(
            f"none of the {excluded} prediction(s) in {str(predictions_path)!r} has references; "
            "nothing can be scored"
        )
    _log_skipped(loaded, excluded)
    report = score_predictions(
        loaded.predictions, str(predictions_path), resamples, seed, protocols
    )
    json_path, markdown_path, png_path = output_paths(output_prefix)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    markdown = render_markdown(report, loaded.malformed_lines, excluded, loaded.duplicates_replaced)
    markdown_path.write_text(markdown, encoding="utf-8")
    plot_score_chart(report, png_path)
    return report, [json_path, markdown_path, png_path]
