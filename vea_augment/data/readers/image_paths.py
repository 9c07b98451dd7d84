"""Where a record's image path may lead: inside the image root, unless the user says otherwise.

A JSONL/JSON/LLaVA record or a table's path column names its image; the name is data, so it
must not reach the rest of the machine (``/etc/hostname``, ``../../secret.png``, a symlink
pointing out) and publish it into an output shard. The path is resolved (symlinks followed)
and must lie inside the image root (by default the records file's folder; ``--image-root``),
else the sample is an error record naming the path and why. ``--allow-external-images``
(:attr:`~vea_augment.options.InputOptions.allow_external_images`) lifts the rule.
"""

from __future__ import annotations

import os
from pathlib import Path

from vea_augment.data.readers.sample import read_image_file

FLAG = "--allow-external-images"


def outside_root(root: Path, name: str) -> str | None:
    """Why the image ``name`` (absolute, or relative to ``root``) leaves ``root``, or None
    when it resolves inside it."""
    candidate = Path(name) if Path(name).is_absolute() else root / name
    real_root = root.resolve()
    real = candidate.resolve()  # not strict: a missing file is reported when it is read
    if real.is_relative_to(real_root):
        return None
    where = f"outside the image root {str(root)!r}"
    if Path(name).is_absolute() and not Path(os.path.normpath(name)).is_relative_to(real_root):
        why = f"image path {name!r} is absolute and {where}"
    elif not Path(os.path.normpath(root.absolute() / name)).is_relative_to(root.absolute()):
        why = f"image path {name!r} climbs out with '..' to {str(real)!r}, {where}"
    else:
        why = f"image path {name!r} is a symbolic link (or under one) to {str(real)!r}, {where}"
    return f"{why}; {FLAG} reads it"


def hub_cache_roots() -> tuple[Path, ...]:
    """Where ``datasets`` itself puts a hub dataset's image files (its path-only ``Image``
    cells point there): the datasets cache and the hub cache."""
    roots: list[Path] = []
    try:
        from datasets import config as datasets_config

        roots.append(Path(datasets_config.HF_DATASETS_CACHE))
    except ImportError:  # datasets is optional; without it there is no hub input either
        pass
    from huggingface_hub import constants

    roots.append(Path(constants.HF_HUB_CACHE))
    return tuple(roots)


def read_root_image(
    root: Path, name: str, allow_external: bool, also: tuple[Path, ...] = ()
) -> tuple[bytes | None, str | None, str | None]:
    """``(bytes, extension, None)`` for the image ``name`` inside ``root`` or one of ``also``
    (anywhere when ``allow_external``), or ``(None, None, reason)``."""
    if not allow_external:
        problem = outside_root(root, name)
        if problem is not None and all(outside_root(other, name) for other in also):
            return None, None, problem
    return read_image_file(root, name)
