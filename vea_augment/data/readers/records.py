"""JSON records beside an image folder: JSON lines (``.jsonl``) and one JSON list (``.json``).

Visual-CoT's lines and the paper release's ``metadata.json`` (a list of records with
``question``, ``answer``, ``image``, ``width``, ``height``, ``bboxs``) read the same way: each
record is mapped onto the input contract, keeping every original field, and its ``image``
path (relative to the file, or to ``--image-root``, and inside it: ``image_paths``) is read
as bytes. A JSON list shard is
a byte range of the file found at planning, so a reader never parses the whole list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from vea_augment.data.keys import escape_key
from vea_augment.data.readers.image_paths import read_root_image
from vea_augment.data.readers.sample import RawSample
from vea_augment.data.safe_json import JSONRecordError, load_json, load_json_at
from vea_augment.data.sources import ShardTask, skip_separators

#: One record as a container yields it: (number from 1, fallback key, record, error).
Item = tuple[int, str, dict[str, Any] | None, str | None]
#: Record -> (the record on the input contract, or why not): plain records, LLaVA, ...
Converter = Callable[[dict[str, Any], int, str], tuple[dict[str, Any], str | None]]


def contract_aliases(record: dict[str, Any]) -> dict[str, Any]:
    """Visual-CoT's field names mapped onto the input contract, every original field kept.

    Visual-CoT records carry one ``answer`` string, ``bboxs`` (pixel xyxy) and sometimes a
    ``question_id``; the contract wants ``answers``, ``evidence_boxes`` and ``id``. A field
    the record already has is never replaced. Records in tars and in files alike.
    """
    normalised = dict(record)
    if "answers" not in normalised and isinstance(normalised.get("answer"), str):
        normalised["answers"] = [normalised["answer"]]
    if "evidence_boxes" not in normalised and "bboxs" in normalised:
        normalised["evidence_boxes"] = normalised["bboxs"]
    if "id" not in normalised and "question_id" in normalised:
        normalised["id"] = str(normalised["question_id"])
    return normalised


def _normalise_record(record: dict[str, Any], line_number: int, tag: str = "L") -> dict[str, Any]:
    """:func:`contract_aliases`, and an id where the record has none: the image's stem and
    ``-L<line>`` (``-R<record>`` in a JSON list)."""
    normalised = contract_aliases(record)
    if "id" not in normalised:
        image = normalised.get("image")
        if isinstance(image, list) and image:
            image = image[0]
        stem = Path(str(image or "sample")).stem
        normalised["id"] = f"{stem}-{tag}{line_number}"
    return normalised


def plain_record(record: dict[str, Any], number: int, tag: str) -> tuple[dict[str, Any], None]:
    """A Visual-CoT-style record, normalised (it never fails here; validation comes later)."""
    return _normalise_record(record, number, tag), None


def jsonl_items(task: ShardTask) -> Iterator[Item]:
    """Lines ``[task.start, task.stop)`` of a JSONL file, parsed."""
    with open(task.source, encoding="utf-8-sig", errors="replace") as handle:
        for number, line in enumerate(islice(handle, task.start, task.stop), task.start + 1):
            fallback_key = f"line{number}"
            if not line.strip():
                yield number, fallback_key, None, f"line {number} is empty"
                continue
            try:
                record = load_json(line)
            except JSONRecordError as exc:
                yield number, fallback_key, None, f"line {number}: {exc}"
                continue
            if not isinstance(record, dict):
                yield number, fallback_key, None, f"line {number}: not a JSON object"
                continue
            yield number, fallback_key, record, None


def json_list_items(task: ShardTask) -> Iterator[Item]:
    """Records ``[task.start, task.stop)`` of a JSON list: bytes ``[offset, end)`` of the file."""
    fallback = f"record{task.start + 1}"
    try:
        with open(task.source, "rb") as handle:
            handle.seek(task.offset)
            size = -1 if task.end is None else task.end - task.offset
            text = handle.read(size).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        yield task.start + 1, fallback, None, f"cannot read {task.describe()}: {exc}"
        return
    position = 0
    for number in range(task.start + 1, (task.stop or task.start) + 1):
        position = skip_separators(text, position)
        try:
            record, position, problem = load_json_at(text, position)
        except JSONRecordError as exc:
            # the file changed since planning: the rest of the shard cannot be found
            reason = f"record {number}: {exc} (the file changed since planning?)"
            yield number, f"record{number}", None, reason
            return
        if problem is not None:
            yield number, f"record{number}", None, f"record {number}: {problem}"
            continue
        if not isinstance(record, dict):
            reason = f"record {number} is a {type(record).__name__}, not a JSON object"
            yield number, f"record{number}", None, reason
            continue
        yield number, f"record{number}", record, None


def _image_name(record: dict[str, Any]) -> tuple[str | None, str | None]:
    image = record.get("image")
    if isinstance(image, list):
        if len(image) > 1:
            return None, f"record has {len(image)} images; expected one"
        image = image[0] if image else None
    if not isinstance(image, str) or not image:
        return None, "record has no 'image' path"
    return image, None


def record_samples(
    task: ShardTask, items: Iterator[Item], convert: Converter
) -> Iterator[RawSample]:
    """The samples of ``items``: each record converted, its image read from its path."""
    root = Path(task.image_root) if task.image_root else Path(task.source).parent
    tag = "L" if task.kind.endswith("jsonl") else "R"
    for number, fallback_key, parsed, error in items:
        if parsed is None:
            yield RawSample(key=fallback_key, error=error)
            continue
        record, error = convert(parsed, number, tag)
        sample = RawSample(key=escape_key(str(record["id"]) or fallback_key), record=record)
        name, problem = _image_name(record)
        if error is not None or name is None:
            sample.error = error or problem
            yield sample
            continue
        sample.image, sample.image_ext, sample.error = read_root_image(
            root, name, task.allow_external_images
        )
        yield sample


def read_jsonl_shard(task: ShardTask) -> Iterator[RawSample]:
    """Yield the samples of lines ``[task.start, task.stop)`` of a JSONL file with images."""
    return record_samples(task, jsonl_items(task), plain_record)


def read_json_list_shard(task: ShardTask) -> Iterator[RawSample]:
    """Yield the samples of records ``[task.start, task.stop)`` of a JSON list with images."""
    return record_samples(task, json_list_items(task), plain_record)
