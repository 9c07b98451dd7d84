"""Readers: turn an input shard into raw samples (record + image bytes), never raising.

One module per format, each yielding :class:`RawSample`\\ s in input order: ``webdataset``
(tar shards, plain or gzip), ``records`` (JSONL and JSON lists of records), ``llava``
(LLaVA/ShareGPT conversations), ``tables`` (parquet, ``save_to_disk``, hub splits).
:func:`read_shard` picks the reader by the shard's kind. A sample that cannot be read is a
:class:`RawSample` with ``error`` set (its key and the reason), so the job records it and
goes on. Nothing is decoded here except JSON: images stay bytes until a worker decodes them
under a pixel limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from itertools import islice

from vea_augment.data.keys import duplicate_key, escape_key, sanitize_key
from vea_augment.data.opening import RemoteShardError
from vea_augment.data.readers.llava import read_llava_json_shard, read_llava_jsonl_shard
from vea_augment.data.readers.records import (
    _normalise_record,
    read_json_list_shard,
    read_jsonl_shard,
)
from vea_augment.data.readers.sample import IMAGE_EXTENSIONS, RawSample, image_extension
from vea_augment.data.readers.tables import read_table_shard
from vea_augment.data.readers.webdataset import UNSAFE_EXTENSIONS, read_webdataset_shard
from vea_augment.data.sources import ShardTask

Reader = Callable[[ShardTask], Iterator[RawSample]]

READERS: dict[str, Reader] = {
    "webdataset": lambda task: read_webdataset_shard(
        task.source, trusted=task.trusted, deadlines=task.deadlines
    ),
    "jsonl": read_jsonl_shard,
    "json_list": read_json_list_shard,
    "llava_jsonl": read_llava_jsonl_shard,
    "llava_json": read_llava_json_shard,
    "parquet": read_table_shard,
    "arrow": read_table_shard,
    "hf": read_table_shard,
}
"""The reader of each :data:`~vea_augment.data.sources.ShardKind`."""


def read_shard(task: ShardTask) -> Iterator[RawSample]:
    """Yield every sample of an input shard (the first ``task.limit`` if set), readable or
    not, in input order."""
    reader = READERS.get(task.kind)
    if reader is None:
        key = escape_key(f"shard{task.index}")
        return iter([RawSample(key=key, error=f"no reader for shards of kind {task.kind!r}")])
    samples = reader(task)
    return accounted(samples if task.limit is None else islice(samples, task.limit))


def accounted(samples: Iterator[RawSample]) -> Iterator[RawSample]:
    """``samples`` with safe, unique keys, and a reader's crash as a last error sample.

    Every key is passed through :func:`~vea_augment.data.keys.sanitize_key`; a key an
    earlier sample already has is renamed ``key-dupN`` and that sample becomes an error
    ("duplicate key"), so both are accounted for and neither overwrites the other. The
    original key is kept in ``source_key``. A reader that raises (which it should not) ends
    the shard with an error sample naming the exception, instead of sinking the samples
    already read; except a remote read that failed (:class:`RemoteShardError`), a fault of
    the shard and not of its data, which propagates so that the shard is retried whole.
    """
    taken: set[str] = set()
    count = 0
    while True:
        try:
            raw = next(samples, None)
        except RemoteShardError:
            raise
        except Exception as exc:
            key = f"unreadable@{count}"
            reason = f"the reader failed after {count} samples: {type(exc).__name__}: {exc}"
            yield RawSample(key=duplicate_key(key, taken) if key in taken else key, error=reason)
            return
        if raw is None:
            return
        count += 1
        safe = sanitize_key(raw.key)
        if safe in taken:
            if raw.error is None:
                raw.error = f"duplicate key {safe!r} (an earlier sample of this shard has it)"
            safe = duplicate_key(safe, taken)
        if safe != raw.key:
            raw.source_key, raw.key = raw.key, safe
        taken.add(safe)
        yield raw


def _shard_size(task: ShardTask) -> int:
    if task.kind != "webdataset" and task.stop is not None:
        return task.stop - task.start
    return sum(1 for _ in READERS[task.kind](task)) if task.kind in READERS else 1


def first_samples(tasks: Sequence[ShardTask], limit: int | None) -> list[ShardTask]:
    """The shards holding the first ``limit`` samples (all of them when None), in order.

    Whole shards stay as they are; the shard the limit falls in gets ``limit`` set (it will
    be written as partial). A tar's size is found by reading it once, so only the shards
    before the limit are read.
    """
    if limit is None:
        return list(tasks)
    kept: list[ShardTask] = []
    left = limit
    for task in tasks:
        if left <= 0:
            break
        size = _shard_size(task)
        kept.append(task if size <= left else replace(task, limit=left))
        left -= size
    return kept


__all__ = [
    "IMAGE_EXTENSIONS",
    "READERS",
    "UNSAFE_EXTENSIONS",
    "RawSample",
    "_normalise_record",
    "accounted",
    "first_samples",
    "image_extension",
    "read_json_list_shard",
    "read_jsonl_shard",
    "read_shard",
    "read_webdataset_shard",
]
