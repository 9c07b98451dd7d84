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

from collections.abc import Callable, Iterator

from vea_augment.data.keys import escape_key
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
    "webdataset": lambda task: read_webdataset_shard(task.source),
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
    """Yield every sample of an input shard, readable or not, in input order."""
    reader = READERS.get(task.kind)
    if reader is None:
        key = escape_key(f"shard{task.index}")
        return iter([RawSample(key=key, error=f"no reader for shards of kind {task.kind!r}")])
    return reader(task)


__all__ = [
    "IMAGE_EXTENSIONS",
    "READERS",
    "UNSAFE_EXTENSIONS",
    "RawSample",
    "_normalise_record",
    "image_extension",
    "read_json_list_shard",
    "read_jsonl_shard",
    "read_shard",
    "read_webdataset_shard",
]
