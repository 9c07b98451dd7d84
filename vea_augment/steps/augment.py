"""The augment step for one input shard: read, attribute in batches, mask, write.

This is the work a Ray actor does per shard (``ray_jobs/`` only hands out shards). The flow
is one-directional: the reader yields raw samples; CPU work (record validation, image
decoding) is done one batch ahead in a thread; the model attributes a batch; the mask,
highlight and encoding of that batch run in another thread while the next batch is on the
model; the writer writes the samples in input order and commits the shard. A sample that
fails at any stage becomes an error record (key, stage, reason); the shard goes on.
"""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from vea_augment._version import __version__
from vea_augment.data.images import (
    FORMAT_BY_EXTENSION,
    decode_image,
    encode_image,
)
from vea_augment.data.readers import RawSample, read_shard
from vea_augment.data.sources import ShardTask
from vea_augment.data.store import OutputStore
from vea_augment.data.writer import OutputSample, ShardWriter
from vea_augment.errors import VEAError
from vea_augment.fallback import batch_then_one_by_one
from vea_augment.method.highlight import highlight_image, mask_to_uint8
from vea_augment.method.pipeline import evidence_mask
from vea_augment.method.types import MaskConfig, TokenView
from vea_augment.method.validation import clip_boxes
from vea_augment.models.prompting import question_text
from vea_augment.options import ATTRIBUTION_BATCH_SIZE, MAX_IMAGE_PIXELS, ON_ERROR, OnError
from vea_augment.schemas.sample import InputSample, parse_input_sample
from vea_augment.schemas.sidecar import ImageContent, SampleTiming, VEASidecar, ViewGrid
from vea_augment.schemas.stats import FailureRecord, ShardStats
from vea_augment.steps.mask_scores import MaskScoreTally, sample_mask_fields


class AttributionResult(Protocol):
    """What the augment step needs from one attribution (an :class:`Attributor` result)."""

    token_views: list[TokenView]
    prompt: str


class BatchAttributor(Protocol):
    """A loaded model that attributes a batch of (image, question) pairs in one pass."""

    model_id: str
    layers: tuple[int, ...]

    def attribute_batch(
        self, images: Sequence[Image.Image], questions: Sequence[str]
    ) -> list[AttributionResult]: ...


@dataclass(frozen=True)
class AugmentSettings:
    """Per-job options of ``vea-augment augment`` that shape each output sample."""

    mask: MaskConfig = field(default_factory=MaskConfig)
    mask_sources: dict[str, str] = field(default_factory=dict)  # knob -> option/profile/paper
    batch_size: int = ATTRIBUTION_BATCH_SIZE
    keep_original: bool = False
    image_format: str | None = None
    on_error: OnError = ON_ERROR
    max_pixels: int = MAX_IMAGE_PIXELS


@dataclass
class PreparedSample:
    """A raw sample after validation and decoding, or the reason it cannot go further."""

    raw: RawSample
    sample: InputSample | None = None
    image: Image.Image | None = None
    boxes_clipped: int = 0
    error: str | None = None
    stage: str = "read"
    timing: SampleTiming = field(default_factory=SampleTiming)


def vea_conversation(question: str, answers: Sequence[str]) -> list[dict[str, str]]:
    """The sample as a LLaVA/ShareGPT conversation: VEA prompt with the question, answer."""
    prompt = question_text(question, "vea")
    turns = [{"from": "human", "value": f"<image>\n{prompt}"}]
    if answers:
        turns.append({"from": "gpt", "value": answers[0]})
    return turns


def prepare_sample(raw: RawSample, settings: AugmentSettings) -> PreparedSample:
    """Validate the record and decode the image; never raises for bad input."""
    prepared = PreparedSample(raw=raw)
    if raw.error is not None:
        prepared.error = raw.error
        return prepared
    started = time.perf_counter()
    try:
        prepared.stage = "validate"
        prepared.sample = parse_input_sample(raw.record)
        prepared.stage = "decode"
        prepared.image = decode_image(
            raw.image or b"", max_pixels=settings.max_pixels, name=raw.key
        )
        if prepared.sample.evidence_boxes:
            boxes = np.asarray(prepared.sample.evidence_boxes, dtype=np.float64)
            _, clipped, dropped = clip_boxes(boxes, *prepared.image.size)
            prepared.boxes_clipped = clipped + dropped
    except VEAError as exc:
        prepared.error = str(exc)
    prepared.timing.decode_s = time.perf_counter() - started
    return prepared


def _output_extension(raw: RawSample, settings: AugmentSettings) -> str:
    wanted = (settings.image_format or raw.image_ext or "png").lower()
    return wanted if wanted in FORMAT_BY_EXTENSION else "png"


def _scores_npy(views: Sequence[TokenView]) -> bytes:
    """float16 raw token scores: the ``(rows, cols)`` grid, or all views flattened in order."""
    if len(views) == 1:
        array = np.asarray(views[0].scores, dtype=np.float16)
    else:
        array = np.concatenate([np.asarray(v.scores).reshape(-1) for v in views]).astype(np.float16)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _mask_png(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(mask_to_uint8(mask), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def _empty_scores() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((0, 0), dtype=np.float16), allow_pickle=False)
    return buffer.getvalue()


_EMPTY_SCORES = _empty_scores()


def _passthrough_image(prepared: PreparedSample, extension: str) -> tuple[bytes, ImageContent]:
    """A failed sample's image member and what it holds (see ``VEASidecar.image``)."""
    raw, formats = prepared.raw, FORMAT_BY_EXTENSION
    if not raw.image:
        return b"", "none"
    if prepared.image is None or formats.get((raw.image_ext or "").lower()) == formats[extension]:
        return raw.image, "original"
    return encode_image(prepared.image, extension), "reencoded"


class ShardAugmenter:
    """Turns prepared samples plus attributions into output samples and statistics."""

    def __init__(self, model_id: str, layers: Sequence[int], settings: AugmentSettings):
        self.model_id = model_id
        self.layers = list(layers)
        self.settings = settings

    def _sidecar(self, prepared: PreparedSample, **fields: Any) -> dict[str, Any]:
        mask = self.settings.mask
        sidecar = VEASidecar(
            model=self.model_id,
            layers=self.layers,
            **asdict(mask),
            image_size=prepared.image.size if prepared.image is not None else None,
            boxes_clipped=prepared.boxes_clipped,
            timing=prepared.timing,
            tool_version=__version__,
            **fields,
        )
        return sidecar.model_dump(mode="json")

    def _record(self, prepared: PreparedSample, vea: dict[str, Any]) -> dict[str, Any]:
        """The input record, untouched but for the ``vea`` block (the conversation is in it)."""
        if prepared.sample is not None:
            record = prepared.sample.model_dump(mode="json")
            vea["conversations"] = vea_conversation(
                prepared.sample.question, prepared.sample.answers
            )
        else:
            record = dict(prepared.raw.record or {})
        record["vea"] = vea
        return record

    def error_output(self, prepared: PreparedSample) -> OutputSample | None:
        """The passthrough sample for a failure (None when ``on_error`` is skip).

        It has an ok sample's members: the image member holds the original (the bytes as read;
        re-encoded only for another ``--image-format`` when it decoded), ``mask.png`` ones
        (nothing dimmed; 1x1 when the size is unknown), ``scores.npy`` a float16 ``(0, 0)``
        array; the sidecar names those placeholders and what the image member holds.
        """
        if self.settings.on_error == "skip":
            return None
        extension = _output_extension(prepared.raw, self.settings)
        image, shown = _passthrough_image(prepared, extension)
        vea = self._sidecar(
            prepared,
            status="error",
            reason=f"{prepared.stage}: {prepared.error}",
            image=shown,
            placeholders=["mask.png", "scores.npy"],
        )
        size = prepared.image.size if prepared.image is not None else (1, 1)
        return OutputSample(
            key=prepared.raw.key,
            record=self._record(prepared, vea),
            image_ext=extension,
            highlighted=image,
            mask_png=_mask_png(np.ones(size[::-1], dtype=np.float64)),
            scores_npy=_EMPTY_SCORES,
            original=image if self.settings.keep_original else None,
        )

    def ok_output(self, prepared: PreparedSample, result: AttributionResult) -> OutputSample:
        """Mask, highlight and encode one attributed sample (raises VEAError on bad maps)."""
        assert prepared.image is not None
        started = time.perf_counter()
        pixels = np.asarray(prepared.image)
        width, height = prepared.image.size
        mask = evidence_mask(result.token_views, width, height, self.settings.mask)
        highlighted = highlight_image(pixels, mask, self.settings.mask.alpha)
        prepared.timing.mask_s = time.perf_counter() - started
        started = time.perf_counter()
        extension = _output_extension(prepared.raw, self.settings)
        members = {
            "highlighted": encode_image(highlighted, extension),
            "mask_png": _mask_png(mask),
            "scores_npy": _scores_npy(result.token_views),
            "original": encode_image(prepared.image, extension)
            if self.settings.keep_original
            else None,
        }
        prepared.timing.encode_s = time.perf_counter() - started
        views = [
            ViewGrid(name=v.name, rows=v.grid_shape[0], cols=v.grid_shape[1])
            for v in result.token_views
        ]
        boxes = prepared.sample.evidence_boxes if prepared.sample is not None else None
        quality = sample_mask_fields(result.token_views, mask, boxes, self.settings.mask)
        vea = self._sidecar(
            prepared, status="ok", prompt=result.prompt, views=views, image="highlighted", **quality
        )
        return OutputSample(
            key=prepared.raw.key, record=self._record(prepared, vea), image_ext=extension, **members
        )


def failure_category(failure: FailureRecord) -> str:
    """A failure's reason without its sample-specific details, for ``errors_by_reason``."""
    reason = failure.reason.removeprefix(f"{failure.key}: ")
    return f"{failure.stage}: {reason.split(':')[0].split(' (')[0]}"


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
    timing: Counter[str] = Counter()
    tally = MaskScoreTally()
    total = ok = 0
    started_at, started = _now(), time.perf_counter()

    def attribute(batch: list[PreparedSample]) -> list[AttributionResult | Exception]:
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
            )
            results.update({id(p): out for p, out in zip(ready, outputs, strict=True)})
            share = (time.perf_counter() - began) / len(ready)
            for p in ready:
                p.timing.attribute_s = share
        return [results.get(id(p), RuntimeError("not attributed")) for p in batch]

    def finish(batch: list[PreparedSample], results: list[Any]) -> list[OutputSample | None]:
        outputs = []
        for prepared, result in zip(batch, results, strict=True):
            if prepared.error is None and isinstance(result, Exception):
                prepared.error, prepared.stage = str(result), "attribute"
            if prepared.error is None:
                try:
                    outputs.append(augmenter.ok_output(prepared, result))
                    continue
                except VEAError as exc:
                    prepared.error, prepared.stage = str(exc), "mask"
            outputs.append(augmenter.error_output(prepared))
        return outputs

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
                if prepared.error is None:
                    ok += 1
                    tally.add_sample(output.record["vea"] if output is not None else {})
                else:
                    failures.append(
                        FailureRecord(
                            key=prepared.raw.key, reason=prepared.error, stage=prepared.stage
                        )
                    )
                if output is not None:
                    writer.write(output)
                for stage in ("decode_s", "attribute_s", "mask_s", "encode_s"):
                    timing[stage] += getattr(prepared.timing, stage)
            if progress is not None:
                progress(len(batch))

        while pending_prepare is not None:
            batch = pending_prepare.result()
            pending_prepare = prepare_next()
            results = attribute(batch)
            if pending_finish is not None:
                drain(pending_finish)
            pending_finish = (batch, pool.submit(finish, batch, results))
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
