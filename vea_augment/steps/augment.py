"""The augment step for one input shard: read, attribute in batches, mask, write.

This is the work a Ray actor does per shard (``ray_jobs/`` only hands out shards). The flow
is one-directional: the reader yields raw samples; CPU work (record validation, image
decoding) is done one batch ahead in a thread; the model attributes a batch; the mask,
highlight and encoding of that batch run in another thread while the next batch is on the
model; the writer writes the samples in input order and commits the shard. A sample that
fails at any stage (read, validate, decode, attribute, mask, encode, write), with any
exception, becomes an error record (key, stage, reason); the shard goes on. What an output
sample holds is built in :mod:`vea_augment.steps.augment_outputs`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from vea_augment.data.images import decode_oriented, orient_boxes
from vea_augment.data.readers import RawSample, read_shard
from vea_augment.data.sources import ShardTask
from vea_augment.data.store import OutputStore
from vea_augment.data.writer import OutputSample, RecordEncodeError, ShardWriter
from vea_augment.errors import VEAError
from vea_augment.fallback import batch_then_one_by_one
from vea_augment.method.validation import clip_boxes
from vea_augment.schemas.sample import parse_input_sample
from vea_augment.schemas.stats import FailureRecord, ShardStats
from vea_augment.steps.augment_outputs import (
    AttributionResult,
    AugmentSettings,
    PreparedSample,
    ShardAugmenter,
    failure_category,
    vea_conversation,
)
from vea_augment.steps.mask_scores import MaskScoreTally

__all__ = [
    "AttributionResult",
    "AugmentSettings",
    "BatchAttributor",
    "PreparedSample",
    "ShardAugmenter",
    "augment_shard",
    "describe_exception",
    "failure_category",
    "prepare_sample",
    "vea_conversation",
]


class BatchAttributor(Protocol):
    """A loaded model that attributes a batch of (image, question) pairs in one pass."""

    model_id: str
    layers: tuple[int, ...]

    def attribute_batch(
        self, images: Sequence[Image.Image], questions: Sequence[str]
    ) -> list[AttributionResult]: ...


def describe_exception(exc: BaseException) -> str:
    """A reason for a failure: a VEAError's own message (it is written for people), any
    other exception with its type in front (``RecursionError: maximum recursion ...``)."""
    if isinstance(exc, VEAError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def prepare_sample(raw: RawSample, settings: AugmentSettings) -> PreparedSample:
    """Validate the record and decode the image (EXIF orientation applied to the image and
    to the evidence boxes); never raises: any exception becomes ``error`` at its ``stage``."""
    prepared = PreparedSample(raw=raw)
    if raw.error is not None:
        prepared.error = raw.error
        return prepared
    started = time.perf_counter()
    try:
        prepared.stage = "validate"
        prepared.sample = parse_input_sample(raw.record)
        prepared.stage = "decode"
        decoded = decode_oriented(
            raw.image or b"",
            max_pixels=settings.max_pixels,
            max_bytes=settings.max_decoded_bytes,
            name=raw.key,
        )
        prepared.image, prepared.orientation = decoded.image, decoded.orientation
        boxes = prepared.sample.evidence_boxes
        if boxes and decoded.orientation != 1:
            upright = orient_boxes(list(boxes), decoded.orientation, decoded.stored_size)
            prepared.sample = prepared.sample.model_copy(update={"evidence_boxes": upright})
        if prepared.sample.evidence_boxes:
            array = np.asarray(prepared.sample.evidence_boxes, dtype=np.float64)
            _, clipped, dropped = clip_boxes(array, *prepared.image.size)
            prepared.boxes_clipped = clipped + dropped
    except Exception as exc:
        prepared.error = describe_exception(exc)
    prepared.timing.decode_s = time.perf_counter() - started
    return prepared


def _attribute(
    attributor: BatchAttributor, batch: list[PreparedSample]
) -> list[AttributionResult | Exception]:
    """One attribution (or the exception it raised) per sample of ``batch``, in order.

    A sample that fails alone fails with its own reason. When every sample of a batch of
    several fails alone with the same exception type that is no VEAError, that is the
    model or the device failing, not the samples: it is raised, so the shard is retried.
    """
    ready = [p for p in batch if p.error is None]
    results: dict[int, AttributionResult | Exception] = {}
    if ready:
        began = time.perf_counter()
        outputs = batch_then_one_by_one(
            ready,
            lambda group: attributor.attribute_batch(
                [p.image for p in group], [p.sample.question for p in group]
            ),
            lambda _, error: error,
            errors=(Exception,),
        )
        kinds = {type(out) for out in outputs}
        if len(ready) > 1 and len(kinds) == 1:
            (kind,) = kinds
            if issubclass(kind, Exception) and not issubclass(kind, VEAError):
                raise outputs[0]
        results.update({id(p): out for p, out in zip(ready, outputs, strict=True)})
        share = (time.perf_counter() - began) / len(ready)
        for p in ready:
            p.timing.attribute_s = share
    return [results.get(id(p), RuntimeError("not attributed")) for p in batch]


def _finish(
    augmenter: ShardAugmenter, batch: list[PreparedSample], results: list[Any]
) -> list[OutputSample | None]:
    """The output sample of each prepared sample: ok, or its error record."""
    outputs = []
    for prepared, result in zip(batch, results, strict=True):
        if prepared.error is None and isinstance(result, Exception):
            prepared.error, prepared.stage = describe_exception(result), "attribute"
        if prepared.error is None:
            try:
                outputs.append(augmenter.ok_output(prepared, result))
                continue
            except Exception as exc:
                prepared.error = describe_exception(exc)
        outputs.append(augmenter.error_output(prepared))
    return outputs


def _write(
    writer: ShardWriter,
    augmenter: ShardAugmenter,
    prepared: PreparedSample,
    output: OutputSample | None,
) -> None:
    """Write one output sample; a record that cannot be serialised becomes a ``write``
    error whose record is the ``vea`` block alone (the input record is what failed)."""
    if output is None:
        return
    try:
        writer.write(output)
        return
    except RecordEncodeError as exc:
        prepared.error, prepared.stage = str(exc), "write"
        prepared.sample, prepared.raw.record = None, None
    fallback = augmenter.error_output(prepared)
    if fallback is not None:
        writer.write(fallback)


def _batches(items: Iterator[RawSample], size: int) -> Iterator[list[RawSample]]:
    while batch := list(islice(items, size)):
        yield batch


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def augment_shard(
    task: ShardTask,
    attributor: BatchAttributor,
    settings: AugmentSettings,
    output: str | Path | OutputStore,
    progress: Callable[[int], None] | None = None,
    worker: str | None = None,
) -> ShardStats:
    """Augment one input shard into ``output/shard-{task.index}.tar`` and commit it.

    ``output`` is a local folder, an fsspec URL or an :class:`OutputStore`.

    Every input sample is accounted for exactly once: written as ok, written as an error
    (``on_error="passthrough"``) or counted as a skipped error. ``progress`` is called
    with the number of samples finished after each batch.
    """
    augmenter = ShardAugmenter(attributor.model_id, attributor.layers, settings)
    failures: list[FailureRecord] = []
    tally = MaskScoreTally()
    timing: Counter[str] = Counter()
    total = ok = 0
    started_at, started = _now(), time.perf_counter()

    with ThreadPoolExecutor(max_workers=2) as pool, ShardWriter(output, task.index) as writer:
        raw_batches = _batches(read_shard(task), settings.batch_size)

        def prepare_next() -> Future[list[PreparedSample]] | None:
            batch = next(raw_batches, None)
            if batch is None:
                return None
            return pool.submit(lambda: [prepare_sample(raw, settings) for raw in batch])

        pending_prepare = prepare_next()
        pending_finish: tuple[list[PreparedSample], Future[list[OutputSample | None]]] | None = None

        def drain(done: tuple[list[PreparedSample], Future[list[OutputSample | None]]]) -> None:
            nonlocal total, ok
            batch, future = done
            for prepared, output in zip(batch, future.result(), strict=True):
                total += 1
                _write(writer, augmenter, prepared, output)
                if prepared.error is None:
                    ok += 1
                    tally.add_sample(output.record["vea"] if output is not None else {})
                else:
                    failure = FailureRecord(
                        key=prepared.raw.key,
                        reason=prepared.error,
                        stage=prepared.stage,
                        source_key=prepared.raw.source_key,
                    )
                    failures.append(failure)
                for stage in ("decode_s", "attribute_s", "mask_s", "encode_s"):
                    timing[stage] += getattr(prepared.timing, stage)
            if progress is not None:
                progress(len(batch))

        while pending_prepare is not None:
            batch = pending_prepare.result()
            pending_prepare = prepare_next()
            results = _attribute(attributor, batch)
            if pending_finish is not None:
                drain(pending_finish)
            pending_finish = (batch, pool.submit(_finish, augmenter, batch, results))
        if pending_finish is not None:
            drain(pending_finish)

        timing["total_s"] = time.perf_counter() - started
        by_reason = Counter(failure_category(f) for f in failures)
        stats = ShardStats(
            shard=task.index,
            source=task.describe(),
            output=writer.final_path,
            total=total,
            ok=ok,
            errors=total - ok,
            failures=failures,
            errors_by_reason=dict(by_reason),
            timing_s={key: round(value, 4) for key, value in timing.items()},
            mask_quality=tally.stats(),
            worker=worker,
            started=started_at,
            finished=_now(),
        )
        writer.commit(stats, partial=task.limit is not None)
    return stats
