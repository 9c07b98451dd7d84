"""What every answering backend takes and gives back, whatever serves the model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from vea_augment.data.images import EncodedImage

BackendName = Literal["transformers", "endpoint"]


@dataclass(frozen=True)
class AnswerRequest:
    """One question to answer with a text and its images (already chosen by the method)."""

    text: str
    images: tuple[EncodedImage, ...]


@dataclass(frozen=True)
class AnswerOutcome:
    """The answer, or why there is none; ``prompt`` is exactly what the model was given."""

    prompt: str
    answer: str | None = None
    error: str | None = None
    seconds: float = 0.0


class AnswerBackend(Protocol):
    """A model that answers batches of requests; a failed request never sinks the batch."""

    name: BackendName
    model_id: str

    def answer(self, requests: Sequence[AnswerRequest]) -> list[AnswerOutcome]: ...


def unencodable_text(text: str) -> str | None:
    """Why ``text`` cannot be sent to a model (a lone surrogate, e.g. from a JSON ``\\ud800``
    escape, has no UTF-8 form), or None when it can."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end].encode("utf-8", "backslashreplace").decode("ascii")
        return f"question is not valid text (lone surrogate {bad} at character {exc.start})"
    return None


def writable_text(text: str) -> str:
    """``text`` with whatever UTF-8 cannot hold written as backslash escapes, so a record
    that quotes it can still be written (``predictions.jsonl`` is UTF-8)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
