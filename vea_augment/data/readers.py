"""Readers: turn an input shard into raw samples (record + image bytes), never raising.

A sample that cannot be read becomes a :class:`RawSample` with ``error`` set (its key and
the reason), so the job records it and goes on. Nothing is decoded here except JSON:
images stay bytes until a worker decodes them under a pixel limit, and member types that
execute code when loaded (pickle, torch files) are refused outright, whatever WebDataset's
defaults would do.
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from webdataset.gopen import gopen

from vea_augment.data.keys import escape_key, split_member_name
from vea_augment.data.sources import ShardTask

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "tif", "tiff")
RECORD_EXTENSION = "json"
#: Formats whose loaders can execute code; a sample carrying one is refused.
UNSAFE_EXTENSIONS = frozenset(
    {"pkl", "pickle", "pyd", "pth", "pt", "ckpt", "joblib", "dill", "cpkl", "mp", "msgpack"}
)


@dataclass
class RawSample:
    """One sample as read: its key, JSON record and image bytes, or why it is unreadable."""

    key: str
    record: dict[str, Any] | None = None
    image: bytes | None = None
    image_ext: str | None = None
    error: str | None = None
    ignored_members: list[str] = field(default_factory=list)
    #: The bytes of the ignored members (e.g. an output shard's ``mask.png``, ``orig.jpg``).
    extras: dict[str, bytes] = field(default_factory=dict)


def _unsafe_suffix(extension: str) -> str | None:
    parts = extension.split(".")
    return next((part for part in parts if part in UNSAFE_EXTENSIONS), None)


def _assemble(key: str, members: dict[str, bytes]) -> RawSample:
    """Build one sample from its tar members, choosing the record and the image."""
    sample = RawSample(key=key)
    for extension in members:
        unsafe = _unsafe_suffix(extension)
        if unsafe is not None:
            sample.error = (
                f"refused member '{key}.{extension}': .{unsafe} can execute code when loaded"
            )
            return sample
    images = [ext for ext in members if ext in IMAGE_EXTENSIONS]
    sample.extras = {
        ext: data
        for ext, data in members.items()
        if ext != RECORD_EXTENSION and ext not in IMAGE_EXTENSIONS
    }
    sample.ignored_members = sorted(sample.extras)
    if RECORD_EXTENSION not in members:
        sample.error = "no .json record in the sample"
        return sample
    try:
        record = json.loads(members[RECORD_EXTENSION].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        sample.error = f"malformed .json record: {exc}"
        return sample
    if not isinstance(record, dict):
        sample.error = f"the .json record is a {type(record).__name__}, not an object"
        return sample
    sample.record = record
    if not images:
        sample.error = f"no image member (one of: {', '.join(IMAGE_EXTENSIONS)})"
        return sample
    if len(images) > 1:
        sample.error = f"several image members ({', '.join(sorted(images))}); expected one"
        return sample
    sample.image_ext = images[0]
    sample.image = members[images[0]]
    return sample


def read_webdataset_shard(url: str) -> Iterator[RawSample]:
    """Yield the samples of one tar shard in order.

    Corrupt headers are skipped block by block until the next valid member (tarfile's
    ``ignore_zeros``), and the skipped span is reported as an error sample named after the
    byte offset; a truncated member ends the shard with an error naming its key.
    """
    current_key: str | None = None
    members: dict[str, bytes] = {}
    expected_offset = 0
    try:
        stream = gopen(url, "rb")
    except Exception as exc:  # gopen raises whatever its transport raises
        yield RawSample(key=f"shard@{url}", error=f"cannot open shard: {exc}")
        return
    try:
        with tarfile.open(fileobj=stream, mode="r|", ignore_zeros=True) as archive:
            for member in archive:
                if member.offset > expected_offset:
                    yield RawSample(
                        key=f"corrupt@{expected_offset}",
                        error=(
                            f"corrupt tar data: bytes {expected_offset}..{member.offset} "
                            "skipped (an unreadable member header)"
                        ),
                    )
                expected_offset = member.offset_data + ((member.size + 511) // 512) * 512
                if not member.isfile():
                    continue
                key, extension = split_member_name(member.name)
                if key != current_key:
                    if current_key is not None:
                        yield _assemble(current_key, members)
                    current_key, members = key, {}
                handle = archive.extractfile(member)
                members[extension] = handle.read() if handle is not None else b""
    except (tarfile.TarError, EOFError, OSError) as exc:
        key = current_key or f"shard@{url}"
        yield RawSample(key=key, error=f"corrupt or truncated tar member: {exc}")
        return
    finally:
        stream.close()
    if current_key is not None:
        yield _assemble(current_key, members)


def _normalise_record(record: dict[str, Any], line_number: int) -> dict[str, Any]:
    """Map Visual-CoT's own fields onto the input contract, keeping every original field.

    Visual-CoT lines carry ``question``, one ``answer`` string, ``image``, ``bboxs`` (pixel
    xyxy) and ``dataset``; the contract wants ``answers`` and ``evidence_boxes`` and an id.
    """
    normalised = dict(record)
    if "answers" not in normalised and isinstance(normalised.get("answer"), str):
        normalised["answers"] = [normalised["answer"]]
    if "evidence_boxes" not in normalised and "bboxs" in normalised:
        normalised["evidence_boxes"] = normalised["bboxs"]
    if "id" not in normalised:
        if "question_id" in normalised:
            normalised["id"] = str(normalised["question_id"])
        else:
            stem = Path(str(normalised.get("image", "sample"))).stem
            normalised["id"] = f"{stem}-L{line_number}"
    return normalised


def read_jsonl_shard(task: ShardTask) -> Iterator[RawSample]:
    """Yield the samples of lines ``[task.start, task.stop)`` of a JSONL file with images."""
    root = Path(task.image_root) if task.image_root else Path(task.source).parent
    with open(task.source, encoding="utf-8", errors="replace") as handle:
        for line_number, line in enumerate(islice(handle, task.start, task.stop), task.start + 1):
            fallback_key = f"line{line_number}"
            if not line.strip():
                yield RawSample(key=fallback_key, error=f"line {line_number} is empty")
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                reason = f"line {line_number}: malformed JSON: {exc}"
                yield RawSample(key=fallback_key, error=reason)
                continue
            if not isinstance(record, dict):
                yield RawSample(key=fallback_key, error=f"line {line_number}: not a JSON object")
                continue
            record = _normalise_record(record, line_number)
            sample = RawSample(key=escape_key(str(record["id"])), record=record)
            image_name = record.get("image")
            if isinstance(image_name, list) and len(image_name) == 1:
                image_name = image_name[0]
            if not isinstance(image_name, str) or not image_name:
                sample.error = "record has no 'image' path"
                yield sample
                continue
            image_path = root / image_name
            try:
                sample.image = image_path.read_bytes()
            except OSError as exc:
                sample.error = f"cannot read image {str(image_path)!r}: {exc.strerror or exc}"
                yield sample
                continue
            sample.image_ext = image_path.suffix.lower().lstrip(".") or "jpg"
            yield sample


def read_shard(task: ShardTask) -> Iterator[RawSample]:
    """Yield every sample of an input shard, readable or not, in input order."""
    if task.kind == "jsonl":
        return read_jsonl_shard(task)
    return read_webdataset_shard(task.source)
