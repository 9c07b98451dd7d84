"""WebDataset sample keys.

A WebDataset sample is a run of consecutive tar members sharing a key, and the key is a
member's basename up to its FIRST dot (so ``k.mask.png`` belongs to sample ``k`` with
extension ``mask.png``). Keys therefore must not contain dots or slashes; ids that do are
escaped reversibly (:func:`escape_key`), and keys read from a tar are sanitised into safe
output names (:func:`sanitize_key`; the job keeps the original as ``vea.source_key``).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from urllib.parse import quote, unquote

from vea_augment.options import MAX_KEY_LENGTH

_SAFE = "-_"
_UNSAFE = re.compile(r"[^A-Za-z0-9\-_]")
#: Characters a sanitised tar key keeps as they are: ``%`` so that an escaped key stays the
#: same when an output shard is read again, ``@`` for the reader's ``corrupt@<offset>`` keys.
_KEY_SAFE = "-_%@"
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9\-_%@]")


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


def sanitize_key(key: str, max_length: int = MAX_KEY_LENGTH) -> str:
    """A safe output key for ``key``: the same key when it already is one.

    Path structure is dropped (a leading ``./``, empty and ``.``/``..`` segments, so nothing
    points outside the shard), the segments are joined with ``%2F``, and any other character
    outside letters, digits and ``-_%@`` (dots, control characters, spaces, non-ASCII) is
    percent-encoded. A result over ``max_length`` characters is cut and ends with 16 hex
    digits of the original's SHA-1, so two long keys stay apart; an empty one becomes
    ``key-<hash>``. Different keys can map to one result (``./a`` and ``a``): callers
    give later ones a duplicate's name.
    """
    if key and not _KEY_UNSAFE.search(key) and len(key) <= max_length:
        return key
    segments = [part for part in re.split(r"[/\\]", key) if part not in ("", ".", "..")]
    safe = "%2F".join(
        quote(part.encode("utf-8", "surrogatepass"), safe=_KEY_SAFE).replace(".", "%2E")
        for part in segments
    )
    digest = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    if not safe:
        return f"key-{digest}"
    if len(safe) > max_length:
        safe = f"{safe[: max_length - 17]}-{digest}"
    return safe


def duplicate_key(key: str, taken: set[str]) -> str:
    """The first ``key-dupN`` (N = 1, 2, ...) not in ``taken``."""
    number = 1
    while f"{key}-dup{number}" in taken:
        number += 1
    return f"{key}-dup{number}"
