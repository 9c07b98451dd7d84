"""Hypothesis strategies for answer strings: what models and annotators actually write.

Answers are built from fragments that exercise every normaliser rule -- articles, number
words, decimals and thousands separators, contractions with and without apostrophes, ASCII
and Unicode punctuation, accented and non-Latin letters, combining marks, symbols -- joined
by the separators answers contain, plus short random text over the same alphabet.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st

REFERENCE_CHECK = settings(max_examples=300, deadline=None)
"""Examples per comparison with a reference implementation ("hundreds of answers")."""

UNICODE_PUNCTUATION = {
    "\u2019": "'",  # ’ right single quotation mark
    "\u2018": "'",  # ‘
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u00ab": '"',  # «
    "\u00bb": '"',  # »
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2026": "...",  # … horizontal ellipsis
    "\uff01": "!",  # ！ fullwidth exclamation mark
    "\uff1f": "?",  # ？ fullwidth question mark
    "\uff0c": ",",  # ， fullwidth comma
    "\u3002": ".",  # 。 ideographic full stop
}
"""Unicode punctuation in the generated answers and the ASCII a person would type for it."""

FRAGMENTS = [
    *["a", "an", "the", "A", "The", "THE"],
    *["none", "zero", "one", "two", "Three", "ten", "eleven"],
    *["3.5", "35", "3.", ".5", "0", "1,000", "12,5", "100%", "45", "2.0"],
    *[
        "dont",
        "don't",
        "it's",
        "its",
        "cannot",
        "gonna",
        "wanna",
        "yall",
        "y'all",
        "oclock",
        "somebody'd",
    ],
    *["cat", "cats", "Nokia", "phone", "apples", "ran", "running", "children", "better", "red"],
    *list(";/[]\"{}()=+\\_-><@`,?!.:'#$%&*^|~"),
    *UNICODE_PUNCTUATION,
    "don\u2019t",
    "\u201cNokia\u201d",
    "x-ray",
    "x\u2011ray",
    "3\u20135",
    "e.g.",
    "(red)",
    "a/b",
    "café",
    "straße",
    "中文",
    "a\u0301",
    "the\u00b2",
    "\u24d0n",
    "€5",
    "°C",
    "\u00a0",
    "İ",
]
ALPHABET = sorted({char for fragment in FRAGMENTS for char in fragment} | set("abcxyz09 \t\n"))
SEPARATORS = [" ", "", "  ", "\t", "\n", " , ", ". ", " - "]


def ascii_typed(text: str) -> str:
    """``text`` with the generated Unicode punctuation replaced by its ASCII form."""
    return "".join(UNICODE_PUNCTUATION.get(char, char) for char in text)


@st.composite
def answers(draw: st.DrawFn, max_pieces: int = 6) -> str:
    """An answer: fragments and bits of random text joined by separators."""
    piece = st.one_of(
        st.sampled_from(FRAGMENTS),
        st.sampled_from(FRAGMENTS),
        st.text(alphabet=ALPHABET, max_size=5),
    )
    pieces = draw(st.lists(piece, max_size=max_pieces))
    out = ""
    for index, item in enumerate(pieces):
        out += (draw(st.sampled_from(SEPARATORS)) if index else "") + item
    return out


def reference_lists(min_size: int = 1, max_size: int = 3) -> st.SearchStrategy[list[str]]:
    """Lists of reference answers."""
    return st.lists(answers(max_pieces=3), min_size=min_size, max_size=max_size)
