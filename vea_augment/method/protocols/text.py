"""Text helpers every normaliser shares: Unicode punctuation, whitespace, edit distance.

Model answers carry typographic punctuation that reference answers (typed in ASCII) do not:
curly quotes (’ “ ”), the non-breaking hyphen U+2011, en and em dashes, fullwidth forms.
Every normaliser handles the Unicode punctuation categories (P*): the ones that delete
punctuation delete every P* character (:func:`strip_punctuation`), the ones whose rules
look at particular ASCII characters first replace each P* character by its ASCII form
(:func:`fold_punctuation`), so ``don’t`` scores like ``don't`` under every protocol.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Sequence

ASCII_PUNCTUATION = frozenset(string.punctuation)
"""``string.punctuation``: the 32 ASCII punctuation and symbol characters."""

_ASCII_FORMS = {
    # Single quotes, apostrophes and primes.
    "'": "\u2018\u2019\u201a\u201b\u2032\u2035\u2039\u203a",
    # Double quotes, guillemets, double primes, CJK double quotes.
    '"': "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb\u301d\u301e\u301f",
    # Ideographic full stop and comma; inverted Spanish marks.
    ".": "\u3002",
    ",": "\u3001",
    "!": "\u00a1",
    "?": "\u00bf",
}
_EXPLICIT = {char: ascii_form for ascii_form, chars in _ASCII_FORMS.items() for char in chars}


def is_punctuation(char: str) -> bool:
    """Whether ``char`` is in a Unicode punctuation category (Pc, Pd, Pe, Pf, Pi, Po, Ps)."""
    return unicodedata.category(char).startswith("P")


def ascii_form(char: str) -> str:
    """The ASCII form of one character: itself unless it is non-ASCII punctuation.

    A punctuation character's form is, in order: its NFKC compatibility form when that is
    ASCII (fullwidth ``！`` is ``!``, ``…`` is ``...``); ``'`` or ``"`` for quotes, primes
    and guillemets; ``-`` for every dash (category Pd: hyphen U+2010, non-breaking hyphen
    U+2011, figure, en and em dashes, ...); ``.``/``,`` for the ideographic full stop and
    comma; ``!``/``?`` for the inverted marks. Punctuation without an ASCII form (``§``,
    ``¶``, ``·``, CJK brackets) is kept as it is.
    """
    if char.isascii() or not is_punctuation(char):
        return char
    compatible = unicodedata.normalize("NFKC", char)
    if compatible.isascii():
        return compatible
    if char in _EXPLICIT:
        return _EXPLICIT[char]
    if unicodedata.category(char) == "Pd":
        return "-"
    return char


class _FoldTable(dict):
    """``str.translate`` table computing each code point's ASCII form once, on first sight."""

    def __missing__(self, codepoint: int) -> str:
        form = ascii_form(chr(codepoint))
        self[codepoint] = form
        return form


_FOLD = _FoldTable()


def fold_punctuation(text: str) -> str:
    """``text`` with every non-ASCII punctuation character replaced by :func:`ascii_form`."""
    if text.isascii():
        return text
    return text.translate(_FOLD)


def strip_punctuation(text: str, also: frozenset[str] = ASCII_PUNCTUATION) -> str:
    """``text`` without its Unicode punctuation (P*) and without the characters ``also``."""
    return "".join(char for char in text if char not in also and not is_punctuation(char))


def squash_spaces(text: str) -> str:
    """Words separated by one space, no leading or trailing space (``str.split`` rules)."""
    return " ".join(text.split())


def overlap_f1(shared: int, predicted: int, reference: int) -> float:
    """Token F1 from the overlap: the harmonic mean of ``shared / predicted`` (precision) and
    ``shared / reference`` (recall); 0 without overlap. The count of tokens is the
    protocol's to define (a bag of tokens, or a set)."""
    if shared == 0:
        return 0.0
    precision, recall = shared / predicted, shared / reference
    return 2 * precision * recall / (precision + recall)


def require_references(references: Sequence[str], minimum: int = 1) -> None:
    """Refuse a bare string (a common slip) or fewer than ``minimum`` references."""
    if isinstance(references, str):
        raise TypeError("references must be a sequence of strings, not one string")
    if len(references) < minimum:
        raise ValueError(f"need at least {minimum} reference answer(s), got {len(references)}")


def levenshtein(left: str, right: str) -> int:
    """Edit distance with unit insert, delete and substitute costs."""
    if len(left) < len(right):
        left, right = right, left
    previous = list(range(len(right) + 1))
    for i, left_char in enumerate(left, start=1):
        current = [i]
        for j, right_char in enumerate(right, start=1):
            current.append(
                min(
                    previous[j] + 1,
                    current[j - 1] + 1,
                    previous[j - 1] + (left_char != right_char),
                )
            )
        previous = current
    return previous[-1]
