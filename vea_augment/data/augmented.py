"""Reading the shards written by ``augment`` as samples to answer.

Each sample offers up to two images: the highlighted one (the shard's image member, when its
``vea`` sidecar says ok) and the original (``orig.<ext>`` when augment kept it, the unchanged
passthrough of a failed sample, or else the augment job's own input, found through
``_manifest.json``). A shard that is not an augment output (no ``vea`` block) is answered as
plain input: its image is the original. Why an image is missing is kept per sample, so each
method that needs it records that reason instead of failing the shard.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vea_augment.data.images import EncodedImage
from vea_augment.data.readers import RawSample, read_shard
from vea_augment.data.safe_json import load_json
from vea_augment.data.sources import ShardTask, plan_input
from vea_augment.data.writer import MANIFEST_NAME
from vea_augment.errors import VEAError
from vea_augment.method.mask_quality import mask_auroc
from vea_augment.options import InputOptions
from vea_augment.schemas.prediction import ImageKind

_SHARD_NAME = re.compile(r"shard-(\d+)\.tar$")


@dataclass
class ShardSample:
    """One sample to answer: its identity, question, references and available images."""

    key: str
    id: str
    shard: int
    dataset: str | None = None
    question: str | None = None
    references: list[str] = field(default_factory=list)
    images: dict[ImageKind, EncodedImage] = field(default_factory=dict)
    missing: dict[ImageKind, str] = field(default_factory=dict)
    attribution_auroc: float | None = None
    error: str | None = None
    evidence_boxes: Any = None
    """The record's ``evidence_boxes`` as read (unchecked): the oracle method's input."""
    sidecar: dict[str, Any] | None = None
    """The record's ``vea`` block (None when the shard is not an augment output)."""

    def why_unanswerable(self, kinds: tuple[ImageKind, ...]) -> str | None:
        """None when the question and every image of ``kinds`` are there, else the reason."""
        if self.error is not None:
            return self.error
        for kind in kinds:
            if kind not in self.images:
                return f"no {kind} image: {self.missing.get(kind, 'not in the shard')}"
        return None


def shard_number(task: ShardTask) -> int:
    """The N of ``shard-N.tar`` (the augment input shard it came from), else the task index."""
    match = _SHARD_NAME.search(task.source)
    return int(match.group(1)) if match else task.index


class OriginalImages:
    """The original images of an augment job's input shards, read on demand by shard number."""

    def __init__(self, manifest_path: Path) -> None:
        self.manifest_path = manifest_path
        self._tasks: list[ShardTask] | None = None
        self._problem: str | None = None
        self._cache: tuple[int, dict[str, EncodedImage]] | None = None

    def _input_tasks(self) -> list[ShardTask]:
        if self._tasks is None and self._problem is None:
            try:
                manifest = load_json(self.manifest_path.read_bytes())
                config = manifest.get("config", {})
                source = manifest["input"]
                if not isinstance(source, str):
                    raise TypeError(f"its 'input' is a {type(source).__name__}, not a string")
                # The manifest is data, not the user's command line: its input may be a
                # path or a URL, never a pipe: command, and its images stay in their root.
                self._tasks = plan_input(
                    source,
                    InputOptions.from_config(config),
                    trusted=False,
                    named_by=f"manifest {str(self.manifest_path)!r}",
                )
            except (OSError, KeyError, ValueError, TypeError, AttributeError, VEAError) as exc:
                self._problem = (
                    f"augment ran without --keep-original and its input (from "
                    f"{self.manifest_path}) cannot be read: {exc}"
                )
        return self._tasks or []

    def shard(self, number: int) -> tuple[dict[str, EncodedImage], str | None]:
        """The originals of input shard ``number`` by key, or ``({}, reason)``."""
        if self._cache is not None and self._cache[0] == number:
            return self._cache[1], None
        tasks = self._input_tasks()
        if self._problem is not None:
            return {}, self._problem
        if number >= len(tasks):
            return {}, f"the augment input has no shard {number} any more"
        images = {
            raw.key: EncodedImage(raw.image, raw.image_ext, raw.key)
            for raw in read_shard(tasks[number])
            if raw.image and raw.image_ext is not None
        }
        self._cache = (number, images)
        return images, None


def originals_beside(task: ShardTask) -> OriginalImages | None:
    """The originals lookup of the augment job that wrote ``task``'s shard, if it has one."""
    if task.kind != "webdataset" or "://" in task.source:
        return None
    manifest = Path(task.source).parent / MANIFEST_NAME
    return OriginalImages(manifest) if manifest.is_file() else None


def _references(record: dict[str, Any]) -> list[str]:
    answers = record.get("answers")
    if isinstance(answers, list):
        return [str(answer) for answer in answers]
    if isinstance(record.get("answer"), str):
        return [record["answer"]]
    return []


def _sample_auroc(record: dict[str, Any], mask_png: bytes | None) -> float | None:
    """Pixel AUROC of the sample's mask against its evidence boxes, None when undefined."""
    boxes = record.get("evidence_boxes")
    if not mask_png or not boxes:
        return None
    try:
        with Image.open(io.BytesIO(mask_png)) as opened:
            mask = np.asarray(opened.convert("L"), dtype=np.float64) / 255.0
        value = mask_auroc(mask, np.asarray(boxes, dtype=np.float64))
    except (OSError, ValueError, VEAError):
        return None
    return None if math.isnan(value) else value


def to_shard_sample(raw: RawSample, shard: int) -> ShardSample:
    """Everything the answer step needs from one raw shard sample (never raises)."""
    record = raw.record or {}
    sample = ShardSample(key=raw.key, id=str(record.get("id") or raw.key), shard=shard)
    if raw.record is None:
        sample.error = f"unreadable sample: {raw.error}"
        return sample
    question = record.get("question")
    sample.dataset = record.get("dataset") if isinstance(record.get("dataset"), str) else None
    sample.references = _references(record)
    if not isinstance(question, str) or not question.strip():
        sample.error = "the record has no question"
        return sample
    sample.question = question
    shown = None
    vea = record.get("vea")
    sample.evidence_boxes = record.get("evidence_boxes")
    sample.sidecar = vea if isinstance(vea, dict) else None
    if raw.image and raw.image_ext is not None:
        shown = EncodedImage(raw.image, raw.image_ext, raw.key)
    if not isinstance(vea, dict):
        if shown is not None:
            sample.images["original"] = shown
        sample.missing["highlighted"] = "not an augment output (no vea block)"
    elif vea.get("status") == "ok":
        if shown is not None:
            sample.images["highlighted"] = shown
        sample.attribution_auroc = _sample_auroc(record, raw.extras.get("mask.png"))
    else:
        sample.missing["highlighted"] = f"augment failed: {vea.get('reason')}"
        if shown is not None:
            sample.images["original"] = shown
    kept = raw.extras.get(f"orig.{raw.image_ext}")
    if "original" not in sample.images and kept is not None and raw.image_ext is not None:
        sample.images["original"] = EncodedImage(kept, raw.image_ext, f"{raw.key}.orig")
    if "original" not in sample.images and raw.error is not None:
        sample.missing["original"] = raw.error
    return sample


def read_answer_shard(
    task: ShardTask, originals: OriginalImages | None = None
) -> Iterator[ShardSample]:
    """Yield the shard's samples in order, with originals filled in from ``originals``."""
    number = shard_number(task)
    for raw in read_shard(task):
        sample = to_shard_sample(raw, number)
        if sample.error is None and "original" not in sample.images:
            if originals is None:
                sample.missing["original"] = (
                    "the shard keeps no original (augment --keep-original) and no "
                    f"{MANIFEST_NAME} names the augment input"
                )
            else:
                found, problem = originals.shard(number)
                if sample.key in found:
                    sample.images["original"] = found[sample.key]
                else:
                    sample.missing["original"] = problem or (
                        f"key {sample.key!r} is not in the augment input's shard {number}"
                    )
        yield sample
