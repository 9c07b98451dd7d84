"""The tool's exception types.

Every error a user can trigger with bad input derives from :class:`VEAError`, so a job can
turn it into an error record (sample key + reason) and go on with the other samples.
"""

from __future__ import annotations


class VEAError(Exception):
    """Base class of every error raised on bad user input or configuration."""


class ConfigError(VEAError, ValueError):
    """A parameter is outside its valid range (alpha, sigma, lambda, layers, ...)."""


class InvalidScoresError(VEAError, ValueError):
    """Token scores contain NaN/inf or do not match the shape of their token boxes."""


class GeometryError(VEAError, ValueError):
    """Token positions or boxes do not agree with the model's inputs or the image."""


class ImageDecodeError(VEAError, ValueError):
    """An image could not be decoded, or it exceeds the pixel limit."""


class SampleValidationError(VEAError, ValueError):
    """An input record does not satisfy its contract; names the sample id and the field."""

    def __init__(self, sample_id: str | None, field: str, message: str) -> None:
        self.sample_id = sample_id
        self.field = field
        self.message = message
        who = f"sample {sample_id!r}" if sample_id is not None else "sample with no id"
        super().__init__(f"{who}: field {field!r}: {message}")
