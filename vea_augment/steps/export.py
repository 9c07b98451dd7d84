"""Per-sample work of ``export``: an augmented sample as a training row, or why it is not one.

A row needs a successful augment (the highlighted image), whichever image is exported, so
exports of one augment output with different options hold the same samples; then a
question, a reference and every image asked for. The prompt goes through
:func:`~vea_augment.models.prompting.question_text`, the reference rule through
:mod:`vea_augment.method.references`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from vea_augment.data.augmented import ShardSample
from vea_augment.data.export_formats import ExportedImage, ExportRow, image_file_name
from vea_augment.method.references import first_reference, most_frequent
from vea_augment.models.prompting import question_text
from vea_augment.options import ExportImages, ExportPrompt, ReferenceRule
from vea_augment.schemas.prediction import ImageKind

IMAGE_KINDS: dict[ExportImages, tuple[ImageKind, ...]] = {
    "highlighted": ("highlighted",),
    "original": ("original",),
    "both": ("original", "highlighted"),  # the order the vea-both answering method shows
}
REFERENCE_RULES: dict[ReferenceRule, Callable[[Sequence[str]], str]] = {
    "first": first_reference,
    "most-frequent": most_frequent,
}


@dataclass(frozen=True)
class LeftOut:
    """A sample that is not in the export, and why."""

    key: str
    shard: int
    reason: str


def prompt_for(question: str, prompt: ExportPrompt) -> str:
    """The human turn's text: the question as asked, or the VEA prompt around it."""
    return question.strip() if prompt == "question" else question_text(question, "vea")


def export_row(
    sample: ShardSample,
    kinds: tuple[ImageKind, ...],
    prompt: ExportPrompt,
    reference: ReferenceRule,
) -> ExportRow | str:
    """The row of ``sample`` with the images ``kinds`` in order, or why there is none."""
    reason = sample.why_unanswerable(tuple(dict.fromkeys(("highlighted", *kinds))))
    if reason is not None:
        return reason
    if not sample.references:
        return "no reference answer in the record"
    question = sample.question or ""
    images = tuple(
        ExportedImage(
            kind,
            image_file_name(sample.key, kind, sample.images[kind].extension),
            sample.images[kind].data,
        )
        for kind in kinds
    )
    return ExportRow(
        id=sample.id,
        key=sample.key,
        question=question,
        prompt=prompt_for(question, prompt),
        answer=REFERENCE_RULES[reference](sample.references),
        answers=tuple(sample.references),
        images=images,
        dataset=sample.dataset,
    )


def export_rows(
    samples: Iterable[ShardSample],
    kinds: tuple[ImageKind, ...],
    prompt: ExportPrompt,
    reference: ReferenceRule,
    seen: dict[str, int],
) -> Iterator[ExportRow | LeftOut]:
    """Each sample's row or :class:`LeftOut`, in order; ``seen`` maps every key exported so
    far to its shard, so a key already exported (from this or an earlier shard) is left
    out rather than overwriting its images."""
    for sample in samples:
        row = export_row(sample, kinds, prompt, reference)
        if isinstance(row, ExportRow) and row.key in seen:
            row = f"duplicate key: already exported from shard {seen[row.key]}"
        if isinstance(row, str):
            yield LeftOut(sample.key, sample.shard, row)
        else:
            seen[row.key] = sample.shard
            yield row
