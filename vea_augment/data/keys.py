"""WebDataset sample keys.

A WebDataset sample is a run of consecutive tar members sharing a key, and the key is a
member's basename up to its FIRST dot (so ``k.mask.png`` belongs to sample ``k`` with
extension ``mask.png``). Keys therefore must not contain dots or slashes; ids that do are
escaped reversibly.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import quote, unquote

_SAFE = "-_"
_UNSAFE = re.compile(r"[^A-Za-z0-9\-_]")


def escape_key(sample_id: str) -> str:
    """A tar-safe, dot-free key for ``sample_id``, reversible with :func:`unescape_key`.

    Letters, digits, ``-`` and ``_`` stay; every other character (dots, slashes, spaces,
    non-ASCII, and ``%`` itself) is percent-encoded with ``%2E``-style escapes.
    """
    if not sample_id:
        raise ValueError("a sample id must not be empty")
    if not _UNSAFE.search(sample_id):
        return sample_id
    return quote(sample_id, safe=_SAFE).replace(".", "%2E")


def unescape_key(key: str) -> str:
    """Invert :func:`escape_key`."""
    return unquote(key)


def split_member_name(name: str) -> tuple[str, str]:
    """``("dir/k.mask.png")`` -> ``("dir/k", "mask.png")``: the WebDataset key and extension.

    The directory part stays in the key (as WebDataset does); the extension is lower-cased.
    """
    directory, base = posixpath.split(name)
    stem, dot, extension = base.partition(".")
    key = posixpath.join(directory, stem) if directory else stem
    return key, extension.lower() if dot else ""
