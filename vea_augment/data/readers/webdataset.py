"""WebDataset tar shards, plain or gzip-compressed (``.tar.gz``, ``.tgz``).

Member types that execute code when loaded (pickle, torch files) are refused outright,
whatever WebDataset's defaults would do; nothing but the ``.json`` record is decoded (by
:func:`~vea_augment.data.safe_json.load_json`). A key that comes back with an extension its
sample already has starts a new sample, so two samples are never merged into one.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator

from vea_augment.data.keys import escape_key, split_member_name
from vea_augment.data.opening import RemoteShardError, open_shard
from vea_augment.data.readers.records import contract_aliases
from vea_augment.data.readers.sample import IMAGE_EXTENSIONS, RawSample
from vea_augment.data.safe_json import JSONRecordError, load_json
from vea_augment.options import RemoteDeadlines

RECORD_EXTENSION = "json"
#: Formats whose loaders can execute code; a sample carrying one is refused.
UNSAFE_EXTENSIONS = frozenset(
    {"pkl", "pickle", "pyd", "pth", "pt", "ckpt", "joblib", "dill", "cpkl", "mp", "msgpack"}
)


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
        record = load_json(members[RECORD_EXTENSION])
    except JSONRecordError as exc:
        sample.error = f".json record: {exc}"
        return sample
    if not isinstance(record, dict):
        sample.error = f"the .json record is a {type(record).__name__}, not an object"
        return sample
    sample.record = contract_aliases(record)
    if not images:
        sample.error = f"no image member (one of: {', '.join(IMAGE_EXTENSIONS)})"
        return sample
    if len(images) > 1:
        sample.error = f"several image members ({', '.join(sorted(images))}); expected one"
        return sample
    sample.image_ext = images[0]
    sample.image = members[images[0]]
    return sample


def read_webdataset_shard(
    url: str, *, trusted: bool = False, deadlines: RemoteDeadlines | None = None
) -> Iterator[RawSample]:
    """Yield the samples of one tar shard in order (gzip-compressed tars are decompressed).

    ``url`` is opened by :func:`~vea_augment.data.opening.open_shard` (a ``pipe:`` command
    only when ``trusted``); a remote shard that cannot be fetched in time raises
    :class:`~vea_augment.data.opening.RemoteShardError`, so the whole shard fails and is retried.

    Corrupt headers are skipped block by block until the next valid member (tarfile's
    ``ignore_zeros``), and the skipped span is reported as an error sample named after the
    byte offset (in the uncompressed stream); a truncated member ends the shard with an
    error naming its key.
    """
    current_key: str | None = None
    members: dict[str, bytes] = {}
    expected_offset = 0
    try:
        stream = open_shard(url, trusted=trusted, deadlines=deadlines or RemoteDeadlines())
    except RemoteShardError:
        raise  # the transport failed, not the data: the shard fails and is retried
    except Exception as exc:  # a refused source, a missing or unreadable file
        yield RawSample(key=escape_key(f"shard@{url}"), error=f"cannot open shard: {exc}")
        return
    try:
        # "r|*": a plain tar, or one compressed with gzip (bzip2, xz) read as a stream
        with tarfile.open(fileobj=stream, mode="r|*", ignore_zeros=True) as archive:
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
                # the same key again with an extension already seen is a second sample
                # (never merged into the first); read_shard then marks it a duplicate
                if key != current_key or extension in members:
                    if current_key is not None:
                        yield _assemble(current_key, members)
                    current_key, members = key, {}
                handle = archive.extractfile(member)
                members[extension] = handle.read() if handle is not None else b""
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        key = current_key or escape_key(f"shard@{url}")
        yield RawSample(key=key, error=f"corrupt or truncated tar member: {exc}")
        return
    finally:
        stream.close()
    if current_key is not None:
        yield _assemble(current_key, members)
