"""``vqa``: the official VQA accuracy with the EvalAI answer processor (VQA v2, TextVQA).

Normaliser (EvalAI's, as in the VQA evaluation script, mmf and lmms-eval), after Unicode
punctuation is folded to ASCII (:func:`~vea_augment.method.protocols.text.fold_punctuation`):

1. lower-case; delete ``,`` and ``?``; ``'s`` becomes `` 's``; tabs and newlines are spaces;
2. each of ``; / [ ] " { } ( ) = + \\ _ - > < @ ` , ? !`` is deleted when it touches a space
   somewhere in the answer (``p + " "`` or ``" " + p`` occurs) and becomes a space otherwise;
3. a period not followed by a digit is deleted, so decimals survive ("3.5" stays, "35" is
   another answer) -- at most 32 of them: the official script passes ``re.UNICODE`` (32) as
   ``re.sub``'s count, and that is kept for fidelity;
4. per word: number words none/zero..ten become digits, the articles a/an/the are dropped,
   contractions missing their apostrophe get it back ("dont" -> "don't").

Accuracy: with the prediction and every reference normalised, each of the N leave-one-out
subsets of N - 1 references scores min(#matches / 3, 1), and the N scores are averaged
(lmms-eval's TextVQA scoring; the VQA script skips the normaliser for references that all
agree, which matters only for references not already normalised). Shown by default where
every sample carries at least ten references (the VQA / TextVQA release).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from vea_augment.method.protocols.text import fold_punctuation, require_references
from vea_augment.method.protocols.types import Metric, Protocol

NORMALIZER = (
    "evalai-vqa: Unicode punctuation to ASCII, then the EvalAI answer processor (lowercase, "
    "punctuation rules keeping decimals, number words to digits, articles dropped, "
    "contractions restored)"
)
MATCHES_FOR_FULL_CREDIT = 3
REFERENCES_TO_APPLY = 10
"""The default report shows VQA accuracy where every sample has this many references."""

NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
ARTICLES = frozenset({"a", "an", "the"})
PUNCTUATION = ';/[]"{}()=+\\_-><@`,?!'

_RESTORED = """
ain't aren't can't could've couldn't didn't doesn't don't hadn't hasn't haven't he'd he's
how'd how'll how's isn't it'd it'll ma'am mightn't might've mustn't must've needn't not've
o'clock oughtn't shan't should've shouldn't somebody'll somebody's someone'd someone'll
someone's something'd something'll that's there'd there're there's they'd they'll they're
they've 'twas wasn't we've weren't what'll what're what's what've when's where'd where's
where've who'd who'll who's who've why'll why're why's won't would've wouldn't y'all you'd
you'll you're you've couldn't've hadn't've he'd've it'd've mightn't've she'd've
shouldn't've somebody'd've someone'd've something'd've there'd've they'd've we'd've
who'd've wouldn't've you'd've y'all'll y'all'd've 'ow's'at
"""


def _contraction_table() -> dict[str, str]:
    """Each contraction of ``_RESTORED`` is restored from every spelling missing exactly one
    of its apostrophes; EvalAI's table also turns "somebody'd" into "somebodyd" (sic).
    Its capitalised entries (Im, Ive, Id've) can never match a lower-cased word."""
    table: dict[str, str] = {}
    for contraction in _RESTORED.split():
        for index, char in enumerate(contraction):
            if char == "'":
                table[contraction[:index] + contraction[index + 1 :]] = contraction
    table["somebody'd"] = "somebodyd"
    return table


CONTRACTIONS = _contraction_table()
_DIGIT_COMMA = re.compile(r"(?<=\d),+(?=\d)")
_PERIOD = re.compile(r"\.(?!\d)")
_MAX_PERIODS_REMOVED = re.UNICODE.value


def _punctuation(text: str) -> str:
    """Step 2 and 3: each listed mark deleted or made a space, periods deleted."""
    delete_all = _DIGIT_COMMA.search(text) is not None
    table = {
        ord(mark): "" if delete_all or f"{mark} " in text or f" {mark}" in text else " "
        for mark in PUNCTUATION
    }
    return _PERIOD.sub("", text.translate(table), count=_MAX_PERIODS_REMOVED)


def _words(text: str) -> str:
    """Step 4: number words to digits, articles dropped, contractions restored."""
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    kept = [CONTRACTIONS.get(word, word) for word in words if word not in ARTICLES]
    return " ".join(kept)


def normalize(text: str) -> str:
    """The EvalAI answer processor applied to ``text`` with its punctuation folded to ASCII."""
    item = fold_punctuation(text).lower().replace(",", "").replace("?", "")
    item = item.replace("'s", " 's").strip()
    item = item.replace("\n", " ").replace("\t", " ").strip()
    return _words(_punctuation(item))


def vqa_accuracy(prediction: str, references: Sequence[str]) -> float:
    """Leave-one-out VQA accuracy: mean over the N subsets of N - 1 of min(#matches / 3, 1)."""
    require_references(references, minimum=2)
    predicted = normalize(prediction)
    matches = [predicted == normalize(reference) for reference in references]
    total = sum(matches)
    credit = [min((total - hit) / MATCHES_FOR_FULL_CREDIT, 1.0) for hit in matches]
    return math.fsum(credit) / len(credit)


def has_ten_answers(dataset: str, references: Sequence[Sequence[str]]) -> bool:
    """Whether every sample has :data:`REFERENCES_TO_APPLY` references (VQA, TextVQA)."""
    return bool(references) and all(len(refs) >= REFERENCES_TO_APPLY for refs in references)


PROTOCOL = Protocol(
    name="vqa",
    normalizer=NORMALIZER,
    definition="mean over the leave-one-out subsets of the references of min(#matches / 3, 1)",
    reference="VQA evaluation script / lmms-eval 0.7.3 EvalAIAnswerProcessor and TextVQA scoring",
    normalize=normalize,
    metrics=(Metric("accuracy", "VQA acc", vqa_accuracy),),
    min_references=2,
    applies=has_ten_answers,
)
