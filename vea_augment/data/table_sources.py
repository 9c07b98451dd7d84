"""Planning table inputs: parquet files (the hub layout), ``save_to_disk`` folders, hub ids.

A hub dataset repository stores a split as ``data/<split>-00000-of-00002.parquet`` (or
``<config>/<split>-*.parquet``, or ``<config>/<split>/*.parquet``): a folder in that layout is
read with pyarrow alone, one split (``--split``) of one configuration (``--hf-config``).
Each file (or hub split) is cut into row ranges of ``samples_per_shard``, files in sorted
order, so shard N always holds the same rows. A file that cannot be read still gets one
shard, whose reader reports it as an error record; a table without a mapped column is an
error record per row, and an input where no table has one is a :class:`ConfigError`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow as pa

from vea_augment.data.safe_json import JSONRecordError, load_json
from vea_augment.data.shards import ShardTask, row_ranges
from vea_augment.data.tables import (
    arrow_table,
    hub_dataset,
    hub_split_names,
    parquet_schema,
    resolve_columns,
)
from vea_augment.errors import ConfigError
from vea_augment.options import InputOptions

HUB_PREFIX = "hf://"
_SHARD_NAME = re.compile(r"^(?P<split>.+?)-\d+-of-\d+$")
_SPLIT_WORDS = ("train", "validation", "val", "valid", "dev", "test")
#: Top-level folders of a hub layout that are not configurations.
_NOT_CONFIGS = ("data", *_SPLIT_WORDS)


def _check_columns(schemas: dict[str, list[str]], plan: InputOptions, source: str) -> None:
    """A ConfigError when no table of the input holds a required column."""
    problems = {
        where: resolve_columns(names, plan.columns).problem for where, names in schemas.items()
    }
    if schemas and all(problems.values()):
        where, problem = next(iter(problems.items()))
        raise ConfigError(f"cannot read the rows of {source!r}: {where}: {problem}")


def _table_fields(plan: InputOptions) -> dict[str, Any]:
    return {"split": plan.split, "hf_config": plan.hf_config, "columns": plan.columns}


def _row_tasks(
    kind: Any, source: str, total: int, root: str | None, plan: InputOptions
) -> list[ShardTask]:
    return [
        ShardTask(0, kind, source, start, stop, root, **_table_fields(plan))
        for start, stop in row_ranges(plan, total)
    ]


def parquet_tasks(
    files: list[Path], root: Path, plan: InputOptions, single: bool = False
) -> list[ShardTask]:
    """Row-range shards of each parquet file in order; a file whose footer cannot be read
    gets one shard that reports it (a single file given alone is a ConfigError)."""
    image_root = plan.image_root if plan.image_root is not None else str(root)
    tasks: list[ShardTask] = []
    schemas: dict[str, list[str]] = {}
    for path in files:
        try:
            total, names = parquet_schema(path)
        except (OSError, pa.ArrowException) as exc:
            if single:
                raise ConfigError(f"cannot read parquet file {str(path)!r}: {exc}") from exc
            broken = ShardTask(0, "parquet", str(path), 0, None, image_root, **_table_fields(plan))
            tasks.append(broken)
            continue
        schemas[path.name] = names
        tasks += _row_tasks("parquet", str(path), total, image_root, plan)
    _check_columns(schemas, plan, str(root if not single else files[0]))
    return tasks


def parquet_files(folder: Path) -> list[Path]:
    """The parquet files of a hub layout: at the top, in ``data/`` or a configuration's
    folder, or one folder deeper (``<config>/<split>/``); hidden folders are skipped."""
    patterns = ("*.parquet", "*/*.parquet", "*/*/*.parquet")
    found = (path for pattern in patterns for path in folder.glob(pattern))
    return sorted(
        path
        for path in found
        if path.is_file() and not any(p.startswith(".") for p in path.relative_to(folder).parts)
    )


def split_of(relative: Path, config: str | None = None) -> str | None:
    """The split a hub-layout file belongs to: its folder (below ``data/`` or its
    configuration's), or its name's ``<split>-`` prefix (``train-00000-of-00002.parquet``,
    ``test.parquet``); None when neither says one."""
    parts = [part for part in relative.parts[:-1] if part not in ("data", config)]
    if parts:
        return parts[-1]
    stem = relative.name.split(".")[0]
    match = _SHARD_NAME.match(stem)
    if match:
        return match["split"]
    word = re.split(r"[-_.]", stem)[0]
    return word if word in _SPLIT_WORDS else None


def parquet_folder_tasks(folder: Path, plan: InputOptions) -> list[ShardTask]:
    """A folder of parquet files in the hub layout: one configuration, one split."""
    files = [path.relative_to(folder) for path in parquet_files(folder)]
    configs = sorted(
        {f.parts[0] for f in files if len(f.parts) > 1 and f.parts[0] not in _NOT_CONFIGS}
    )
    config = plan.hf_config
    if config is None and len(configs) == 1 and all(f.parts[0] == configs[0] for f in files):
        config = configs[0]  # the only configuration there is
    if config is not None:
        if config not in configs:
            raise ConfigError(
                f"folder {str(folder)!r} has no configuration {config!r}; it has: "
                f"{', '.join(configs) or 'none (its parquet files are in data/ or at the top)'}"
            )
        files = [Path(config, *f.parts[1:]) for f in files if f.parts[0] == config]
    elif len(configs) > 1:
        raise ConfigError(
            f"folder {str(folder)!r} holds several configurations ({', '.join(configs)}): "
            "choose one with --hf-config"
        )
    splits = sorted({split for f in files if (split := split_of(f, config)) is not None})
    if plan.split is not None:
        files = [f for f in files if split_of(f, config) == plan.split]
        if not files:
            raise ConfigError(
                f"folder {str(folder)!r} has no split {plan.split!r}; it has: "
                f"{', '.join(splits) or 'no named split'}"
            )
    elif len(splits) > 1:
        raise ConfigError(
            f"folder {str(folder)!r} holds the splits {', '.join(splits)}: choose one with --split"
        )
    return parquet_tasks([folder / f for f in files], folder, plan)


def is_saved_folder(folder: Path) -> bool:
    """Whether ``folder`` is a ``save_to_disk`` Dataset or DatasetDict."""
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()


def _read_json(path: Path) -> Any:
    try:
        return load_json(path.read_bytes())
    except (OSError, JSONRecordError) as exc:
        raise ConfigError(f"cannot read {str(path)!r}: {exc}") from exc


def _pick_split(splits: list[str], plan: InputOptions, where: str) -> str:
    if plan.split is None:
        if len(splits) != 1:
            listed = ", ".join(splits) or "none"
            raise ConfigError(f"{where} holds the splits {listed}: choose one with --split")
        return splits[0]
    if plan.split not in splits:
        raise ConfigError(f"{where} has no split {plan.split!r}; it has: {', '.join(splits)}")
    return plan.split


def saved_tasks(folder: Path, plan: InputOptions) -> list[ShardTask]:
    """A ``save_to_disk`` folder: its Arrow files in the order ``state.json`` lists them."""
    source = str(folder)
    if (folder / "dataset_dict.json").is_file():
        splits = list(_read_json(folder / "dataset_dict.json").get("splits", []))
        folder = folder / _pick_split(splits, plan, f"save_to_disk folder {source!r}")
    state = _read_json(folder / "state.json")
    saved_split = state.get("_split")
    if plan.split is not None and saved_split not in (None, plan.split) and folder == Path(source):
        raise ConfigError(f"{source!r} holds split {saved_split!r}, not {plan.split!r}")
    image_root = plan.image_root if plan.image_root is not None else str(folder)
    tasks: list[ShardTask] = []
    schemas: dict[str, list[str]] = {}
    for entry in state.get("_data_files", []):
        path = folder / str(entry.get("filename", ""))
        try:
            table = arrow_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise ConfigError(f"cannot read the Arrow file {str(path)!r}: {exc}") from exc
        schemas[path.name] = table.column_names
        tasks += _row_tasks("arrow", str(path), table.num_rows, image_root, plan)
    _check_columns(schemas, plan, source)
    return tasks


def hub_id(source: str) -> str:
    """``hf://datasets/ORG/NAME`` (or ``hf://ORG/NAME``) -> ``ORG/NAME``; others unchanged."""
    if not source.startswith(HUB_PREFIX):
        return source
    name = source.removeprefix(HUB_PREFIX).removeprefix("datasets/").strip("/")
    if name.count("/") > 1:
        raise ConfigError(
            f"{source!r}: a hub input names a dataset, hf://datasets/ORG/NAME; choose its "
            "configuration with --hf-config and its split with --split"
        )
    return name


def hub_tasks(source: str, plan: InputOptions) -> list[ShardTask]:
    """Row ranges of one split of a hub dataset, through ``datasets.load_dataset``."""
    name = hub_id(source)
    split = plan.split
    if split is None:
        split = _pick_split(hub_split_names(name, plan.hf_config), plan, f"{name!r}")
    dataset = hub_dataset(name, plan.hf_config, split)
    _check_columns({f"{name}:{split}": list(dataset.column_names)}, plan, source)
    local = Path(name).is_dir()
    image_root = plan.image_root if plan.image_root is not None or not local else name
    planned = replace(plan, image_root=image_root, split=split)
    return _row_tasks("hf", name, len(dataset), image_root, planned)
