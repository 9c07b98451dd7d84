"""The ``export`` job: augmented shards -> a fine-tuning layout (LLaVA, ShareGPT, parquet).

In process, shard after shard in input order: each sample is read back with
:func:`~vea_augment.data.augmented.read_answer_shard` (originals from ``orig.<ext>`` or the
augment input only when they are exported), turned into a row by
:mod:`vea_augment.steps.export` (prompt, reference, images in order) and handed to the
format's writer. Every sample left out is counted and named with its key and reason, in the
summary and in ``_export.json``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vea_augment._version import __version__
from vea_augment.data.augmented import originals_beside, read_answer_shard, shard_number
from vea_augment.data.export_formats import ExportRow, open_writer
from vea_augment.data.sources import ShardTask, plan_shards
from vea_augment.data.writer import stats_path, write_json_atomic
from vea_augment.errors import ConfigError
from vea_augment.options import (
    EXPORT_FORMAT,
    EXPORT_IMAGE,
    EXPORT_PROMPT,
    EXPORT_REFERENCE,
    ExportFormat,
    ExportImages,
    ExportPrompt,
    ReferenceRule,
)
from vea_augment.steps.export import IMAGE_KINDS, LeftOut, export_rows

EXPORT_REPORT = "_export.json"
"""What the export was asked, what it wrote and every sample it left out, in the output."""
SHOWN_LEFT_OUT = 50
"""Left-out samples the summary lists one by one (``_export.json`` lists them all)."""


@dataclass(frozen=True)
class ExportJob:
    """Everything ``vea-augment export`` was asked to do."""

    input: str
    output: Path
    format: ExportFormat = EXPORT_FORMAT
    image: ExportImages = EXPORT_IMAGE
    prompt: ExportPrompt = EXPORT_PROMPT
    reference: ReferenceRule = EXPORT_REFERENCE

    def describe(self) -> str:
        return (
            f"{self.format}, image {self.image}, prompt {self.prompt}, reference {self.reference}"
        )


@dataclass
class ExportSummary:
    """What the export did, for the end-of-job report."""

    job: ExportJob
    exported: int
    left_out: list[LeftOut]
    files: list[Path]
    seconds: float
    by_reason: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        total = self.exported + len(self.left_out)
        text = [
            f"exported {self.exported} of {total} sample(s) ({self.job.describe()}) in "
            f"{self.seconds:.1f}s"
        ]
        if self.left_out:
            text.append(f"left out {len(self.left_out)} sample(s):")
            text += [f"  {count:>6}  {reason}" for reason, count in self.by_reason.items()]
            text += [
                f"  error: {item.key} (shard {item.shard}): {item.reason}"
                for item in self.left_out[:SHOWN_LEFT_OUT]
            ]
            if len(self.left_out) > SHOWN_LEFT_OUT:
                more = len(self.left_out) - SHOWN_LEFT_OUT
                text.append(f"  ... and {more} more, every one in {EXPORT_REPORT}")
        text += [f"wrote {path}" for path in self.files]
        return text


def reason_category(reason: str) -> str:
    """A reason cut to its first two clauses, for counting by kind (``no highlighted image:
    augment failed``)."""
    return ": ".join(reason.split(": ")[:2])[:100]


def expected_samples(tasks: list[ShardTask]) -> int | None:
    """The samples augment counted in the shards' ``_stats`` (None when any is missing)."""
    total = 0
    for task in tasks:
        path = stats_path(Path(task.source).parent, shard_number(task))
        try:
            total += int(json.loads(path.read_text(encoding="utf-8"))["total"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return total


def _report(summary: ExportSummary) -> dict[str, Any]:
    job = summary.job
    return {
        "input": job.input,
        "format": job.format,
        "image": job.image,
        "images": list(IMAGE_KINDS[job.image]),
        "prompt": job.prompt,
        "reference": job.reference,
        "exported": summary.exported,
        "left_out": [vars(item) for item in summary.left_out],
        "files": [path.name for path in summary.files],
        "tool_version": __version__,
    }


def run_export_job(job: ExportJob, show_progress: bool = True) -> ExportSummary:
    """Export every sample of ``job.input`` it can into ``job.output``.

    Raises :class:`ConfigError` when the input names no shards, or when no sample at all
    could be exported (then no data file is written).
    """
    started = time.perf_counter()
    tasks = plan_shards(job.input)
    kinds = IMAGE_KINDS[job.image]
    left_out: list[LeftOut] = []
    seen: dict[str, int] = {}
    with (
        open_writer(job.format, job.output, kinds) as writer,
        tqdm(
            total=expected_samples(tasks), unit="sample", desc="export", disable=not show_progress
        ) as bar,
    ):
        for task in tasks:
            originals = originals_beside(task) if "original" in kinds else None
            samples = read_answer_shard(task, originals)
            for row in export_rows(samples, kinds, job.prompt, job.reference, seen):
                bar.update()
                if isinstance(row, ExportRow):
                    writer.write(row)
                else:
                    left_out.append(row)
        if writer.rows == 0:
            reasons = Counter(reason_category(item.reason) for item in left_out)
            raise ConfigError(
                f"no sample of {job.input!r} could be exported ({len(left_out)} left out: "
                + "; ".join(f"{count} {reason}" for reason, count in reasons.most_common(3))
                + ")"
            )
        files = writer.commit()
    counts = Counter(reason_category(item.reason) for item in left_out)
    summary = ExportSummary(
        job=job,
        exported=writer.rows,
        left_out=left_out,
        files=files,
        seconds=time.perf_counter() - started,
        by_reason=dict(counts.most_common()),
    )
    report = job.output / EXPORT_REPORT
    write_json_atomic(report, _report(summary))
    summary.files.append(report)
    return summary
