"""The answer step for one shard: every sample under every method, as prediction records."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from vea_augment.answering.backend import AnswerBackend, AnswerRequest, writable_text
from vea_augment.answering.methods import MethodSpec
from vea_augment.data.augmented import ShardSample
from vea_augment.data.images import EncodedImage, decode_image, encode_image
from vea_augment.data.predictions_file import PredictionKey
from vea_augment.errors import VEAError
from vea_augment.method.highlight import highlight_image
from vea_augment.method.oracle import oracle_mask
from vea_augment.options import MAX_IMAGE_PIXELS, MaskConfig
from vea_augment.schemas.prediction import ImageKind, Prediction

#: Eq. 4's alpha for the oracle of a plain input (no ``vea`` sidecar to take it from).
_PLAIN_INPUT_ALPHA = MaskConfig().alpha


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


def _oracle_alpha(sample: ShardSample) -> float:
    """The alpha augment used for this sample (its sidecar), the paper's for a plain input."""
    if sample.sidecar is None:
        return _PLAIN_INPUT_ALPHA
    alpha = sample.sidecar.get("alpha")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise VEAError(f"the vea sidecar has no numeric alpha (got {alpha!r})")
    if not math.isfinite(alpha) or not 0.0 <= alpha <= 1.0:
        raise VEAError(f"the vea sidecar's alpha {alpha!r} is outside [0, 1]")
    return float(alpha)


def _build_oracle(sample: ShardSample, max_pixels: int) -> EncodedImage:
    """The oracle image of a sample with boxes and an original; raises VEAError why not."""
    alpha = _oracle_alpha(sample)
    try:
        boxes = np.asarray(sample.evidence_boxes, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise VEAError(f"evidence_boxes are not [x0, y0, x1, y1] numbers: {exc}") from exc
    original = sample.images["original"]
    pixels = np.asarray(decode_image(original.data, max_pixels=max_pixels, name=original.name))
    height, width = pixels.shape[:2]
    mask = oracle_mask(boxes, width, height)
    if not mask.any():
        raise VEAError(f"the evidence boxes cover no pixel of the {width}x{height} image")
    # PNG, not the shard's format: the model must get Eq. 4's pixels, not a JPEG of them.
    data = encode_image(highlight_image(pixels, mask, alpha), "png")
    return EncodedImage(data, "png", f"{sample.key}.oracle")


def oracle_image(sample: ShardSample, max_pixels: int = MAX_IMAGE_PIXELS) -> str | None:
    """Put the sample's oracle image in ``sample.images["oracle"]``; None, or why it cannot.

    The oracle image is Eq. 4 of the decoded original with the ground-truth mask of the
    record's ``evidence_boxes`` (:func:`~vea_augment.method.oracle.oracle_mask`) and the
    alpha of the sample's ``vea`` sidecar (the paper's alpha for a plain input), encoded as
    PNG. Every reason starts with ``oracle:``; it is worked out once per sample.
    """
    if "oracle" in sample.images:
        return None
    if "oracle" not in sample.missing:
        if not sample.evidence_boxes:
            sample.missing["oracle"] = "oracle: sample has no evidence_boxes"
        elif "original" not in sample.images:
            why = sample.missing.get("original", "not in the shard")
            sample.missing["oracle"] = f"oracle: no original image: {why}"
        else:
            try:
                sample.images["oracle"] = _build_oracle(sample, max_pixels)
                return None
            except VEAError as exc:
                sample.missing["oracle"] = f"oracle: {exc}"
    return sample.missing["oracle"]


def _why_not(sample: ShardSample, kinds: tuple[ImageKind, ...], max_pixels: int) -> str | None:
    """Why ``sample`` cannot be answered with ``kinds`` (building its oracle image if asked)."""
    reason = sample.why_unanswerable(tuple(kind for kind in kinds if kind != "oracle"))
    if reason is None and "oracle" in kinds:
        reason = oracle_image(sample, max_pixels)
    return reason


def answer_samples(
    samples: Iterable[ShardSample],
    methods: Sequence[MethodSpec],
    backend: AnswerBackend,
    skip: frozenset[PredictionKey] = frozenset(),
    chunk_size: int = 32,
    progress: Callable[[int], None] | None = None,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> list[Prediction]:
    """Answer each sample under each method not in ``skip``; returns predictions in order.

    A sample or method that cannot be answered (an unreadable sample, a missing image, a
    failed generation) becomes an error prediction with the reason; nothing is dropped.
    Requests go to the backend ``chunk_size`` at a time so a shard streams through memory.
    The oracle method's image is built here (:func:`oracle_image`, originals decoded under
    ``max_pixels``); a sample without it fails the oracle method alone.
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
            reason = _why_not(sample, method.images, max_pixels)
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
