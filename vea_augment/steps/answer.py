"""The answer step for one shard: every sample under every method, as prediction records."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from vea_augment.answering.backend import AnswerBackend, AnswerRequest, writable_text
from vea_augment.answering.methods import MethodSpec
from vea_augment.data.augmented import ShardSample
from vea_augment.data.predictions_file import PredictionKey
from vea_augment.schemas.prediction import Prediction


@dataclass(frozen=True)
class _Pending:
    sample: ShardSample
    method: MethodSpec


def _prediction(
    backend: AnswerBackend, pending: _Pending, prompt: str, **outcome: object
) -> Prediction:
    sample, method = pending.sample, pending.method
    # Every text is made writable: a lone surrogate in a record (or a reply) must cost only
    # this prediction, not the job's UTF-8 predictions file.
    texts = {
        name: writable_text(value) for name, value in outcome.items() if isinstance(value, str)
    }
    return Prediction(
        id=writable_text(sample.id),
        dataset=None if sample.dataset is None else writable_text(sample.dataset),
        method=method.name,
        model=backend.model_id,
        backend=backend.name,
        prompt=writable_text(prompt),
        images=list(method.images),
        references=[writable_text(reference) for reference in sample.references],
        attribution_auroc=sample.attribution_auroc,
        shard=sample.shard,
        **(outcome | texts),
    )


def answer_samples(
    samples: Iterable[ShardSample],
    methods: Sequence[MethodSpec],
    backend: AnswerBackend,
    skip: frozenset[PredictionKey] = frozenset(),
    chunk_size: int = 32,
    progress: Callable[[int], None] | None = None,
) -> list[Prediction]:
    """Answer each sample under each method not in ``skip``; returns predictions in order.

    A sample or method that cannot be answered (an unreadable sample, a missing image, a
    failed generation) becomes an error prediction with the reason; nothing is dropped.
    Requests go to the backend ``chunk_size`` at a time so a shard streams through memory.
    """
    slots: list[Prediction | None] = []
    pending: list[tuple[int, _Pending, AnswerRequest]] = []
    reported = 0

    def flush() -> None:
        outcomes = backend.answer([request for _, _, request in pending])
        for (slot, item, _), outcome in zip(pending, outcomes, strict=True):
            if outcome.error is None:
                fields = {"prediction": outcome.answer or "", "seconds": outcome.seconds}
            else:
                fields = {"status": "error", "reason": outcome.error, "seconds": outcome.seconds}
            slots[slot] = _prediction(backend, item, outcome.prompt, **fields)
        pending.clear()
        report()

    def report() -> None:
        nonlocal reported
        if progress is not None and len(slots) > reported:
            progress(len(slots) - reported)
        reported = len(slots)

    for sample in samples:
        for method in methods:
            if (sample.id, method.name) in skip:
                continue
            item = _Pending(sample, method)
            reason = sample.why_unanswerable(method.images)
            if reason is not None:
                prompt = method.text(sample.question) if sample.question else ""
                slots.append(_prediction(backend, item, prompt, status="error", reason=reason))
                continue
            images = tuple(sample.images[kind] for kind in method.images)
            pending.append((len(slots), item, AnswerRequest(method.text(sample.question), images)))
            slots.append(None)
            if len(pending) >= chunk_size:
                flush()
    if pending:
        flush()
    report()
    return [prediction for prediction in slots if prediction is not None]
