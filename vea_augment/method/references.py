"""Choosing one reference answer from several (TextVQA has ten per question).

Stdlib only. ``first_reference`` takes the first answer as written; ``most_frequent``
takes the answer given most often, comparing answers without regard to case or to
surrounding and repeated whitespace, ties going to the answer seen first. Both return an
answer exactly as an annotator wrote it (the winner's most frequent spelling).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vea_augment.errors import ConfigError


def answer_key(answer: str) -> str:
    """What two answers share when they count as the same: case-folded, whitespace-collapsed."""
    return " ".join(answer.split()).casefold()


def first_reference(answers: Sequence[str]) -> str:
    """The first answer. Raises :class:`ConfigError` when there is none."""
    if not answers:
        raise ConfigError("no reference answer to choose from")
    return answers[0]


def _first_most_common(items: Sequence[str]) -> str:
    """The item occurring most often in ``items``, the first seen among equally frequent."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    best = max(counts.values())
    # dicts keep insertion order, so this is the first seen of the most frequent items
    return next(item for item, count in counts.items() if count == best)


def most_frequent(answers: Sequence[str], key: Callable[[str], str] = answer_key) -> str:
    """The answer given most often, comparing answers by ``key``, the first seen among
    equally frequent ones; returned in its most frequent spelling (again the first seen on
    a tie). Raises :class:`ConfigError` when there is none."""
    if not answers:
        raise ConfigError("no reference answer to choose from")
    winner = _first_most_common([key(answer) for answer in answers])
    return _first_most_common([answer for answer in answers if key(answer) == winner])
