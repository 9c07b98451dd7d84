"""What the augment step writes per sample: the ok and error samples, and failure buckets.

:class:`ShardAugmenter` turns a prepared sample (plus its attribution) into the members of
one output sample; its sidecar is built in one place (:meth:`ShardAugmenter.sidecar`).
:func:`failure_category` groups failure reasons by kind for ``errors_by_reason``.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
from PIL import Image

from vea_augment._version import __version__
from vea_augment.data.images import FORMAT_BY_EXTENSION, encode_image
from vea_augment.data.readers import RawSample
from vea_augment.data.writer import OutputSample
from vea_augment.method.highlight import highlight_image, mask_to_uint8
from vea_augment.method.pipeline import evidence_mask
from vea_augment.method.types import MaskConfig, TokenView
from vea_augment.models.prompting import question_text
from vea_augment.options import (
    ATTRIBUTION_BATCH_SIZE,
    MAX_DECODED_BYTES,
    MAX_IMAGE_PIXELS,
    ON_ERROR,
    OnError,
)
from vea_augment.schemas.sample import InputSample
from vea_augment.schemas.sidecar import ImageContent, SampleTiming, VEASidecar, ViewGrid
from vea_augment.schemas.stats import FailureRecord
from vea_augment.steps.mask_scores import sample_mask_fields


class AttributionResult(Protocol):
    """What the augment step needs from one attribution (an :class:`Attributor` result)."""

    token_views: list[TokenView]
    prompt: str


@dataclass(frozen=True)
class AugmentSettings:
    """Per-job options of ``vea-augment augment`` that shape each output sample."""

    mask: MaskConfig = field(default_factory=MaskConfig)
    mask_sources: dict[str, str] = field(default_factory=dict)
    """Where each mask value came from (knob -> option, profile or paper); not in the identity."""
    batch_size: int = ATTRIBUTION_BATCH_SIZE
    keep_original: bool = False
    image_format: str | None = None
    on_error: OnError = ON_ERROR
    max_pixels: int = MAX_IMAGE_PIXELS
    max_decoded_bytes: int = MAX_DECODED_BYTES


@dataclass
class PreparedSample:
    """A raw sample after validation and decoding, or the reason it cannot go further."""

    raw: RawSample
    sample: InputSample | None = None
    image: Image.Image | None = None
    boxes_clipped: int = 0
    #: The EXIF orientation applied to the image (and to the record's evidence boxes).
    orientation: int = 1
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
    try:
        return encode_image(prepared.image, extension), "reencoded"
    except Exception:
        return raw.image, "original"


class ShardAugmenter:
    """Turns prepared samples plus attributions into output samples and statistics."""

    def __init__(self, model_id: str, layers: Sequence[int], settings: AugmentSettings):
        self.model_id = model_id
        self.layers = list(layers)
        self.settings = settings

    def sidecar(self, prepared: PreparedSample, **fields: Any) -> dict[str, Any]:
        """The ``vea`` block of one output sample (the only place it is built).

        ``source_key`` is the input's key when the output key differs from it (sanitised or
        a duplicate's), ``exif_orientation`` the orientation applied to the image and the
        evidence boxes (None when none was)."""
        mask = self.settings.mask
        return VEASidecar(
            model=self.model_id,
            layers=self.layers,
            **asdict(mask),
            image_size=prepared.image.size if prepared.image is not None else None,
            boxes_clipped=prepared.boxes_clipped,
            timing=prepared.timing,
            tool_version=__version__,
            source_key=prepared.raw.source_key,
            exif_orientation=prepared.orientation if prepared.orientation != 1 else None,
            **fields,
        ).model_dump(mode="json")

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
        vea = self.sidecar(
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
        """Mask, highlight and encode one attributed sample; on any exception
        ``prepared.stage`` says which of ``mask`` and ``encode`` raised it."""
        assert prepared.image is not None
        prepared.stage = "mask"
        started = time.perf_counter()
        pixels = np.asarray(prepared.image)
        width, height = prepared.image.size
        mask = evidence_mask(result.token_views, width, height, self.settings.mask)
        highlighted = highlight_image(pixels, mask, self.settings.mask.alpha)
        prepared.timing.mask_s = time.perf_counter() - started
        prepared.stage = "encode"
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
        vea = self.sidecar(
            prepared, status="ok", prompt=result.prompt, views=views, image="highlighted", **quality
        )
        return OutputSample(
            key=prepared.raw.key, record=self._record(prepared, vea), image_ext=extension, **members
        )


# What makes one sample's reason differ from another's of the same kind.
_PARENTHESES = re.compile(r" \([^()]*\)")
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_SAMPLE_PREFIX = re.compile(r"^(?:sample '(?:[^'\\]|\\.)*'|sample with no id): ")
_CODEPOINT = re.compile(r"U\+[0-9A-Fa-f]{4,6}")
_HEX = re.compile(r"\b0x[0-9a-fA-F]+\b")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_CATEGORY_LENGTH = 120


def _unquote_values(reason: str) -> str:
    """Quoted values become ``'…'``; a field's name stays (its indices become ``N``)."""

    def keep_field(match: re.Match[str]) -> str:
        if reason[max(0, match.start() - 6) : match.start()] == "field ":
            return _NUMBER.sub("N", match.group())
        return "'…'"

    return _QUOTED.sub(keep_field, reason)


def failure_category(failure: FailureRecord) -> str:
    """A failure's reason without its sample-specific details, for ``errors_by_reason``:
    ``stage: reason`` with the key, the sample id, quoted values (a field's name is kept),
    parenthesised details, code points, addresses and numbers taken out, so samples failing
    the same way share one bucket."""
    reason = failure.reason
    for key in (failure.key, failure.source_key):
        if key:
            reason = reason.removeprefix(f"{key}: ")
    reason = _SAMPLE_PREFIX.sub("", reason)
    reason = _unquote_values(_PARENTHESES.sub("", reason))
    reason = _NUMBER.sub("N", _HEX.sub("0x…", _CODEPOINT.sub("U+…", reason)))
    if len(reason) > _CATEGORY_LENGTH:
        reason = reason[: _CATEGORY_LENGTH - 1] + "…"
    return f"{failure.stage}: {reason}"
