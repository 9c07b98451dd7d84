"""Planning the unit of work: the input shard.

An input is recognised by its content (``data/sniff.py``), its format can also be named
(``--input-format``):

- WebDataset tar shards, plain or gzip-compressed: paths, brace patterns such as
  ``data/shard-{00000..00099}.tar``, any URL or ``pipe:`` WebDataset's ``gopen`` takes, or a
  folder of them. One tar is one shard.
- JSON records beside their images: a JSONL file (Visual-CoT's own format, or the input
  contract), a JSON list (the paper release's ``metadata.json``), either of them holding
  LLaVA/ShareGPT conversations, or a folder with one such file. Image paths are relative
  to the file (or ``--image-root``).
- Tables (``data/table_sources.py``): parquet files or a folder in the hub layout
  (``data/train-*.parquet``), a ``datasets.save_to_disk`` folder, a hub id
  (``hf://datasets/ORG/NAME`` or ``--input-format hf``).

Who named the input decides what it may be (``data/opening.py``): the user's ``--input`` may
be any of the above or a ``pipe:`` command; an input named by a data file (``answer``
re-planning an augment job's input from its ``_manifest.json``) only a path or a URL of a
whitelisted scheme, and its images only inside the image root.

Records and rows are cut into shards of ``samples_per_shard``, the same rows every time for
the same options, so output shard N holds exactly input shard N's samples. What no reader
takes, and an input that holds no sample, is a :class:`ConfigError` naming it.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import braceexpand

from vea_augment.data.opening import PIPE, check_source, url_scheme
from vea_augment.data.safe_json import JSONRecordError, load_json, load_json_at
from vea_augment.data.shards import ShardKind, ShardTask, row_ranges
from vea_augment.data.sniff import (
    JSON_SUFFIXES,
    JSONL_SUFFIXES,
    TAR_SUFFIXES,
    has_suffix,
    sniff_file,
)
from vea_augment.data.table_sources import (
    hub_tasks,
    is_saved_folder,
    parquet_files,
    parquet_folder_tasks,
    parquet_tasks,
    saved_tasks,
)
from vea_augment.errors import ConfigError
from vea_augment.options import (
    HF_CONFIG,
    INPUT_FORMAT,
    SAMPLES_PER_SHARD,
    SPLIT,
    ColumnMapping,
    InputFormat,
    InputOptions,
)

__all__ = ["ShardKind", "ShardTask", "plan_input", "plan_shards"]

ACCEPTED = (
    "accepted inputs: WebDataset .tar/.tar.gz shards, a JSONL or JSON-list file of records "
    "(plain or LLaVA), parquet files or a hub-layout folder, a save_to_disk folder, "
    "hf://datasets/ORG/NAME"
)
_SEPARATORS = re.compile(r"[\s,]*")


def skip_separators(text: str, position: int) -> int:
    """The position of the next JSON value after whitespace and commas (JSON lists)."""
    match = _SEPARATORS.match(text, position)
    return match.end() if match else position


def _is_llava(record: Any) -> bool:
    return isinstance(record, dict) and isinstance(record.get("conversations"), list)


def _first_jsonl_record(path: Path) -> Any:
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        for line in handle:
            if line.strip():
                try:
                    return load_json(line)
                except JSONRecordError:
                    return None  # the reader reports it as that record's error
    return None


def _jsonl_tasks(path: Path, plan: InputOptions) -> list[ShardTask]:
    with path.open("rb") as handle:
        total = sum(1 for _ in handle)
    root = plan.image_root if plan.image_root is not None else str(path.parent)
    kind: ShardKind = "llava_jsonl" if _is_llava(_first_jsonl_record(path)) else "jsonl"
    return [
        ShardTask(0, kind, str(path), start, stop, root) for start, stop in row_ranges(plan, total)
    ]


def _json_list_offsets(path: Path) -> tuple[list[int], int, Any]:
    """The byte offset of each record of a JSON list, the byte after the last, the first."""
    try:
        data = path.read_bytes()
        bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
        text = data[bom:].decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read JSON list {str(path)!r}: {exc}") from exc
    del data
    position = skip_separators(text, 0)
    if text[position : position + 1] != "[":
        raise ConfigError(f"{str(path)!r} is not a JSON list: it does not start with '['")
    starts: list[int] = []
    first: Any = None
    position = skip_separators(text, position + 1)
    while text[position : position + 1] not in ("]", ""):
        starts.append(position)
        try:
            # A record too deep or too long is still delimited: the reader makes it an error
            # record, and the records after it are planned as usual.
            record, position, _ = load_json_at(text, position)
        except JSONRecordError as exc:
            detail = str(exc).removeprefix("malformed JSON: ")
            raise ConfigError(
                f"{str(path)!r}: malformed JSON in record {len(starts)}: {detail}"
            ) from exc
        first = record if len(starts) == 1 else first
        position = skip_separators(text, position)
    if text[position : position + 1] != "]":
        raise ConfigError(f"{str(path)!r}: the JSON list is not closed (truncated file?)")
    offsets = [*starts, position]
    if not text.isascii():  # character offsets -> byte offsets, in one pass
        done = count = 0
        for number, start in enumerate(offsets):
            count += len(text[done:start].encode("utf-8"))
            offsets[number], done = count, start
    offsets = [offset + bom for offset in offsets]
    return offsets[:-1], offsets[-1], first


def _json_list_tasks(path: Path, plan: InputOptions) -> list[ShardTask]:
    starts, end, first = _json_list_offsets(path)
    root = plan.image_root if plan.image_root is not None else str(path.parent)
    kind: ShardKind = "llava_json" if _is_llava(first) else "json_list"
    return [
        ShardTask(0, kind, str(path), start, stop, root, offset=starts[start], end=byte_end)
        for start, stop in row_ranges(plan, len(starts))
        for byte_end in [starts[stop] if stop < len(starts) else end]
    ]


def _webdataset_tasks(urls: list[str]) -> list[ShardTask]:
    return [ShardTask(0, "webdataset", url) for url in urls]


def _local_name(path: Path) -> str:
    """A found file's name as a shard source: a path that never reads as a URL or command
    (a file called ``pipe:x.tar`` in the current folder is ``/abs/pipe:x.tar``)."""
    name = str(path)
    return name if url_scheme(name) is None else str(path.absolute())


def expand_pattern(source: str) -> list[str]:
    """The names a brace pattern stands for, in order; a ConfigError naming the pattern when
    it is malformed (unbalanced braces) or names one shard twice."""
    try:
        names = list(braceexpand.braceexpand(source))
    except ValueError as exc:  # braceexpand.UnbalancedBracesError
        raise ConfigError(
            f"input pattern {source!r} is malformed: {exc} (a range reads "
            "data/shard-{000..009}.tar, a list data/{a,b}.tar)"
        ) from exc
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(
            f"input pattern {source!r} names the same shard more than once: {repeated[0]!r}"
        )
    return names


def _shard_urls(source: str) -> list[str]:
    """A brace pattern's (or a folder's) shards, every local one existing."""
    if Path(source).is_dir():
        found = sorted(Path(source).iterdir())
        return [_local_name(p) for p in found if has_suffix(p, TAR_SUFFIXES)]
    urls = expand_pattern(source)
    missing = [url for url in urls if not _is_remote(url) and not Path(url).is_file()]
    if missing == [source]:
        raise ConfigError(f"input {source!r} does not exist")
    if missing:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise ConfigError(f"{len(missing)} input shard(s) do not exist: {shown}")
    return urls


def _is_remote(url: str) -> bool:
    return "://" in url or url.startswith(PIPE)


def _file_tasks(path: Path, plan: InputOptions) -> list[ShardTask]:
    """The shards of one local file, by what its content says it is."""
    sniffed = sniff_file(path)
    if sniffed.kind == "tar":
        return _webdataset_tasks([_local_name(path)])
    if sniffed.kind == "parquet":
        return parquet_tasks([path], path.parent, plan, single=True)
    if sniffed.kind == "jsonl":
        return _jsonl_tasks(path, plan)
    if sniffed.kind == "json_list":
        return _json_list_tasks(path, plan)
    raise ConfigError(f"no reader takes {str(path)!r}: {sniffed.looks_like}; {ACCEPTED}")


def _local_files_tasks(paths: list[Path], plan: InputOptions) -> list[ShardTask]:
    """Several local files (a brace pattern or a folder's shards): all tars or all parquet."""
    sniffed = [(path, sniff_file(path)) for path in paths]
    kinds = {found.kind for _, found in sniffed}
    if kinds == {"tar"}:
        return _webdataset_tasks([_local_name(path) for path in paths])
    if kinds == {"parquet"}:
        return parquet_tasks(paths, paths[0].parent, plan)
    unread = [(path, found) for path, found in sniffed if found.kind is None]
    path, found = unread[0] if unread else next(i for i in sniffed if i[1].kind != "tar")
    raise ConfigError(
        f"the input's files must all be tar shards or all parquet files: no reader takes "
        f"{str(path)!r} with them ({found.looks_like})"
    )


def _folder_tasks(folder: Path, plan: InputOptions) -> list[ShardTask]:
    if is_saved_folder(folder):
        return saved_tasks(folder, plan)
    if parquet_files(folder):
        return parquet_folder_tasks(folder, plan)
    children = sorted(p for p in folder.iterdir() if p.is_file())
    jsonl = [p for p in children if has_suffix(p, JSONL_SUFFIXES)]
    tars = [p for p in children if has_suffix(p, TAR_SUFFIXES)]
    json_files = [
        p for p in children if has_suffix(p, JSON_SUFFIXES) and not p.name.startswith("_")
    ]
    if len(jsonl) == 1 and not tars:
        return _file_tasks(jsonl[0], plan)
    if tars and not jsonl:
        return _local_files_tasks(tars, plan)
    if not jsonl and len(json_files) == 1:
        return _file_tasks(json_files[0], plan)
    shown = ", ".join(p.name for p in children[:5]) + (" ..." if len(children) > 5 else "")
    raise ConfigError(
        f"no reader takes folder {str(folder)!r}: it must hold one JSONL or JSON file (with "
        f"its images), .tar/.tar.gz shards, parquet files or a save_to_disk dataset; found "
        f"{len(jsonl)} JSONL, {len(json_files)} JSON and {len(tars)} tar files"
        + (f" among {len(children)} files ({shown})" if children else " (it is empty)")
    )


def _auto_tasks(source: str, plan: InputOptions) -> list[ShardTask]:
    path = Path(source)
    if path.is_dir():
        return _folder_tasks(path, plan)
    if path.is_file():
        return _file_tasks(path, plan)
    urls = _shard_urls(source)
    if any(_is_remote(url) for url in urls):
        return _webdataset_tasks(urls)
    if len(urls) == 1:
        return _file_tasks(Path(urls[0]), plan)
    return _local_files_tasks([Path(url) for url in urls], plan)


#: The ``--input-format`` of each shard kind (LLaVA records come as JSONL or JSON lists).
_FORMAT_OF_KIND = {"json_list": "json", "llava_jsonl": "jsonl", "llava_json": "json"}
#: A JSON shard's kind when its records are read as LLaVA conversations, or as plain records.
_STYLE = {
    "llava": {"jsonl": "llava_jsonl", "json_list": "llava_json"},
    "plain": {"llava_jsonl": "jsonl", "llava_json": "json_list"},
}


def _as_format(tasks: list[ShardTask], input_format: InputFormat, source: str) -> list[ShardTask]:
    """The detected shards read as ``input_format`` says, or a ConfigError if they are not it."""
    style = "llava" if input_format == "llava" else "plain"
    wanted = ("jsonl", "json") if input_format == "llava" else (input_format,)
    for task in tasks:
        found = _FORMAT_OF_KIND.get(task.kind, task.kind)
        if found not in wanted:
            raise ConfigError(
                f"--input-format {input_format}, but {task.describe()!r} of {source!r} is "
                f"{'LLaVA ' if task.kind.startswith('llava') else ''}{found}"
            )
    return [replace(task, kind=_STYLE[style].get(task.kind, task.kind)) for task in tasks]


def plan_shards(
    source: str,
    samples_per_shard: int = SAMPLES_PER_SHARD,
    image_root: str | None = None,
    *,
    input_format: InputFormat = INPUT_FORMAT,
    split: str | None = SPLIT,
    hf_config: str | None = HF_CONFIG,
    columns: ColumnMapping | None = None,
) -> list[ShardTask]:
    """:func:`plan_input` with the :class:`~vea_augment.options.InputOptions` as keywords."""
    options = InputOptions(
        samples_per_shard, image_root, input_format, split, hf_config, columns or ColumnMapping()
    )
    return plan_input(source, options)


def _check_untrusted_image_root(source: str, image_root: str | None, named_by: str | None) -> None:
    """A data file may not widen where record images are read from: an image root it names
    must lie inside the folder of the input it names (where the root is by default)."""
    if image_root is None or "://" in image_root or "://" in source:
        return
    base = Path(source.split("{")[0]).expanduser().resolve()
    folder = base if base.is_dir() else base.parent
    root = Path(image_root).expanduser().resolve()
    if root != folder and folder not in root.parents:
        raise ConfigError(
            f"{named_by or 'a data file'} names image root {image_root!r} outside its input's "
            f"folder {str(folder)!r}: a data file may not choose where images are read from"
        )


def plan_input(
    source: str, options: InputOptions, *, trusted: bool = True, named_by: str | None = None
) -> list[ShardTask]:
    """Expand ``source`` into its input shards, numbered from 0 in input order.

    ``trusted``: the user's own command line named ``source``; False when a data file did
    (``named_by`` says which, for the error), and then no shard may be a ``pipe:`` command or
    a URL of another scheme than :data:`~vea_augment.options.UNTRUSTED_SCHEMES`, and record
    images stay inside the image root whatever the options say.

    Raises :class:`ConfigError` with the reason when the source may not be opened, names
    nothing readable, is not what ``options.input_format`` says, or holds no sample.
    """
    check_source(source, trusted=trusted, named_by=named_by)
    if not trusted:
        _check_untrusted_image_root(source, options.image_root, named_by)
    if options.samples_per_shard < 1:
        raise ConfigError(f"--samples-per-shard must be >= 1, got {options.samples_per_shard}")
    input_format = options.input_format
    try:
        if input_format == "hf" or source.startswith("hf://"):
            tasks = hub_tasks(source, options)
        elif input_format == "webdataset":  # named: no sniffing, every tar is taken as it is
            tasks = _webdataset_tasks(_shard_urls(source))
        else:
            tasks = _auto_tasks(source, options)
            if input_format != "auto":
                tasks = _as_format(tasks, input_format, source)
    except OSError as exc:  # a folder or file the user may not read, a vanished mount
        reason = exc.strerror or str(exc)
        named = str(exc.filename or source)
        where = "" if named.startswith(source.rstrip("/")) else f" ({named})"
        raise ConfigError(f"cannot read input {source!r}{where}: {reason}") from exc
    if not tasks:
        raise ConfigError(f"input {source!r} holds no samples")
    for task in tasks:  # a pattern or folder may hold names its source did not show
        check_source(task.source, trusted=trusted, named_by=named_by)
    return [
        replace(
            task,
            index=index,
            trusted=trusted,
            allow_external_images=options.allow_external_images and trusted,
            deadlines=options.deadlines,
        )
        for index, task in enumerate(tasks)
    ]
