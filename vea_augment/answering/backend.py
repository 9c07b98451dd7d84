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
