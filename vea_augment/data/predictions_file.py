"""``predictions.jsonl``: read it back, tolerate a killed writer, append, resume.

The driver is the only writer. It appends one shard's predictions at a time and flushes,
so a killed run leaves whole lines plus at most one truncated last line; a rerun drops
malformed lines (rewriting the file atomically) and skips the (id, method) pairs already
written for the same model.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from vea_augment.errors import VEAError
from vea_augment.schemas.common import validate_record
from vea_augment.schemas.prediction import Prediction

PredictionKey = tuple[str, str]
"""(sample id, method): one prediction per pair and model."""


@dataclass
class PredictionLines:
    """The valid predictions of a file, in file order, and the lines that were not."""

    predictions: list[Prediction] = field(default_factory=list)
    malformed: list[tuple[int, str]] = field(default_factory=list)


def read_predictions(path: Path) -> PredictionLines:
    """Parse every line; a malformed one is kept as (line number, reason), never raised."""
    found = PredictionLines()
    if not path.exists():
        return found
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                found.predictions.append(validate_record(Prediction, json.loads(line)))
            except json.JSONDecodeError as exc:
                found.malformed.append((number, f"not JSON ({exc.msg})"))
            except VEAError as exc:
                found.malformed.append((number, str(exc)))
    return found


def _rewrite(path: Path, predictions: Iterable[Prediction]) -> None:
    temporary = path.with_name(f".{path.name}.rewrite")
    with temporary.open("w", encoding="utf-8") as handle:
        for prediction in predictions:
            handle.write(prediction.model_dump_json() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


@dataclass
class ResumeState:
    """What a rerun finds: the pairs already answered per shard, and what it cleaned up."""

    done_by_shard: dict[int | None, set[PredictionKey]]
    kept: int
    dropped_malformed: int
    dropped_errors: int

    def skip_for(self, shard: int) -> frozenset[PredictionKey]:
        return frozenset(self.done_by_shard.get(shard, set()))


def prepare_for_resume(path: Path, model: str, retry_errors: bool = False) -> ResumeState:
    """Clean ``path`` for appending and report which predictions of ``model`` exist.

    Malformed lines are removed; with ``retry_errors`` so are ``model``'s error predictions,
    so they are answered again. Other models' predictions are kept untouched.
    """
    lines = read_predictions(path)
    keep = [
        p
        for p in lines.predictions
        if not (retry_errors and p.model == model and p.status == "error")
    ]
    dropped_errors = len(lines.predictions) - len(keep)
    unterminated = path.exists() and path.stat().st_size > 0 and not _ends_with_newline(path)
    if lines.malformed or dropped_errors or unterminated:
        _rewrite(path, keep)
    done: dict[int | None, set[PredictionKey]] = defaultdict(set)
    for prediction in keep:
        if prediction.model == model:
            done[prediction.shard].add((prediction.id, prediction.method))
    return ResumeState(dict(done), len(keep), len(lines.malformed), dropped_errors)


def append_predictions(path: Path, predictions: Iterable[Prediction]) -> int:
    """Append whole lines and flush them to disk; returns the number written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("a", encoding="utf-8") as handle:
        for prediction in predictions:
            handle.write(prediction.model_dump_json() + "\n")
            count += 1
        handle.flush()
        os.fsync(handle.fileno())
    return count
