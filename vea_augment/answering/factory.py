"""A picklable recipe for a backend, so each Ray actor builds its own copy."""

from __future__ import annotations

from dataclasses import dataclass, field

from vea_augment.answering.backend import AnswerBackend, BackendName
from vea_augment.answering.endpoint_backend import EndpointBackend, EndpointSettings
from vea_augment.options import ANSWER_BATCH_SIZE, MAX_IMAGE_PIXELS, MAX_NEW_TOKENS, ModelOptions


@dataclass(frozen=True)
class BackendSpec:
    """Which backend answers: a local transformers model, or a served endpoint."""

    kind: BackendName
    model: str
    loading: ModelOptions = field(default_factory=ModelOptions)
    batch_size: int = ANSWER_BATCH_SIZE
    max_new_tokens: int = MAX_NEW_TOKENS
    max_pixels: int = MAX_IMAGE_PIXELS
    endpoint: EndpointSettings | None = None

    @property
    def uses_gpu(self) -> bool:
        """Whether each actor should hold a GPU (a local model), not just make HTTP calls."""
        return self.kind == "transformers"

    def build(self) -> AnswerBackend:
        """Load the model (transformers) or prepare the client (endpoint)."""
        if self.kind == "endpoint":
            if self.endpoint is None:
                raise ValueError("an endpoint backend needs EndpointSettings")
            return EndpointBackend(self.endpoint)
        from vea_augment.answering.transformers_backend import TransformersBackend

        return TransformersBackend.load(
            self.model,
            self.loading,
            batch_size=self.batch_size,
            max_new_tokens=self.max_new_tokens,
            max_pixels=self.max_pixels,
        )
