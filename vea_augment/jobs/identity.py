"""A job's identity: what its outputs are a function of, and the check that a rerun into an
existing output is the same job.

The identity is a JSON tree of the input, the model and every option that shapes the outputs
(never where or how fast the job runs: actors, GPUs per actor, the Ray address, the progress
bar, ``--limit``, the batch size, the device). Its fingerprint is the sha256 of its canonical
JSON (sorted keys, no spaces). The manifest records both; a rerun whose fingerprint differs
is refused with the differences named (``settings.mask.alpha: 0.5 -> 0.7``) unless
``--overwrite``, which removes the old outputs and starts again.

An output written before identities existed (a manifest without one, or shards without a
manifest) is refused the same way: nothing says which options made it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from vea_augment.data.store import OutputStore
from vea_augment.data.writer import MANIFEST_NAME, STATS_DIR
from vea_augment.errors import ConfigError

_SHOWN_CHANGES = 8


def canonical(identity: dict[str, Any]) -> dict[str, Any]:
    """``identity`` as plain JSON values (tuples become lists, paths strings)."""
    return json.loads(json.dumps(identity, default=str))


def fingerprint(identity: dict[str, Any]) -> str:
    """sha256 (hex) of the identity's canonical JSON: equal exactly when the trees are."""
    text = json.dumps(canonical(identity), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict) and tree:
        flat: dict[str, Any] = {}
        for key, value in tree.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: tree}


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every leaf that differs, as ``dotted.path: old -> new`` (``(absent)`` where a side
    lacks it), in path order."""
    before, after = _flatten(canonical(old)), _flatten(canonical(new))
    missing = "(absent)"
    return [
        f"{path}: {_show(before.get(path, missing))} -> {_show(after.get(path, missing))}"
        for path in sorted(before.keys() | after.keys())
        if before.get(path, missing) != after.get(path, missing)
    ]


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _refusal(where: str, why: str) -> ConfigError:
    return ConfigError(
        f"{where} holds the output of another job ({why}); pass --overwrite to remove it "
        "and start again, or choose another --output"
    )


def check_identity(where: str, recorded: dict[str, Any] | None, identity: dict[str, Any]) -> None:
    """Refuse (:class:`ConfigError`) unless ``recorded`` (a manifest's identity, None for a
    manifest without one) is ``identity``; the message names what changed."""
    if recorded is None:
        raise _refusal(where, "written without a job identity, by an older version")
    if fingerprint(recorded) != fingerprint(identity):
        found = changes(recorded, identity)
        shown = "; ".join(found[:_SHOWN_CHANGES])
        more = f"; and {len(found) - _SHOWN_CHANGES} more" if len(found) > _SHOWN_CHANGES else ""
        raise _refusal(where, f"changed: {shown}{more}")


def recorded_identity(manifest_text: str) -> dict[str, Any] | None:
    """The identity a manifest recorded, or None (an older manifest, or not one at all)."""
    try:
        identity = json.loads(manifest_text).get("identity")
    except (ValueError, AttributeError):
        return None
    return identity if isinstance(identity, dict) and identity else None


def _job_files(store: OutputStore) -> Iterable[str]:
    """What a shard job writes into its folder: shards, their stats, the manifest."""
    for name in store.names():
        if name.startswith("shard-") or name == MANIFEST_NAME:
            yield name
    for name in store.names(STATS_DIR):
        yield f"{STATS_DIR}/{name}"


def claim_folder(store: OutputStore, identity: dict[str, Any], overwrite: bool) -> int:
    """Make ``store`` this job's: refuse another job's output, or (``overwrite``) remove it.

    Returns how many old files were removed. A folder holding none of a job's files is
    claimed as it is; other files in it are never touched.
    """
    if overwrite:
        removed = list(_job_files(store))
        for name in removed:
            store.remove(name)
        return len(removed)
    if store.exists(MANIFEST_NAME):
        check_identity(store.url, recorded_identity(store.read_text(MANIFEST_NAME)), identity)
    elif any(_job_files(store)):
        raise _refusal(store.url, f"shards without a {MANIFEST_NAME}")
    return 0
