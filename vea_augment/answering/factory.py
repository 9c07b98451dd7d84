"""A picklable recipe for a backend, so each Ray actor builds its own copy."""

from __future__ import annotations

from dataclasses import dataclass

from vea_augment.answering.backend import MAX_NEW_TOKENS, AnswerBackend, BackendName
from vea_augment.answering.endpoint_backend import EndpointBackend, EndpointSettings
from vea_augment.data.images import DEFAULT_MAX_PIXELS


@dataclass(frozen=True)
class BackendSpec:
    """Which backend answers: a local transformers model, or a served endpoint."""

    kind: BackendName
    model: str
    dtype: str = "auto"
    device: str | None = None
    trust_remote_code: bool = False
    batch_size: int = 8
    max_new_tokens: int = MAX_NEW_TOKENS
    max_pixels: int = DEFAULT_MAX_PIXELS
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
        import torch

        from vea_augment.answering.transformers_backend import TransformersBackend
        from vea_augment.models.loading import LoadOptions

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        options = LoadOptions(
            dtype=self.dtype, device=device, trust_remote_code=self.trust_remote_code
        )
        return TransformersBackend.load(
            self.model,
            options,
            batch_size=self.batch_size,
            max_new_tokens=self.max_new_tokens,
            max_pixels=self.max_pixels,
        )
