"""Shared pieces of the data contracts: evidence boxes and the validation-error wrapper."""

from __future__ import annotations

import math
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from vea_augment.errors import SampleValidationError


def _check_box(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    if not all(math.isfinite(v) for v in box):
        raise ValueError(f"box {list(box)} has a non-finite coordinate")
    if x1 < x0 or y1 < y0:
        raise ValueError(f"box {list(box)} is not [x0, y0, x1, y1] with x0 <= x1 and y0 <= y1")
    return box


EvidenceBox = Annotated[tuple[float, float, float, float], AfterValidator(_check_box)]
"""An evidence box ``[x0, y0, x1, y1]`` in original-image pixels (x right, y down)."""


class Contract(BaseModel):
    """Base of every contract: unknown fields are refused unless a model opts in."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


ModelT = TypeVar("ModelT", bound=BaseModel)


def validate_record(model: type[ModelT], record: Any, id_field: str = "id") -> ModelT:
    """Validate ``record`` against ``model``; on failure raise SampleValidationError.

    The error names the record's id (when it has one) and the first offending field, e.g.
    ``sample 'q17': field 'answers.0': Input should be a valid string``.
    """
    try:
        return model.model_validate(record)
    except ValidationError as exc:
        sample_id = record.get(id_field) if isinstance(record, dict) else None
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "<record>"
        extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise SampleValidationError(
            None if sample_id is None else str(sample_id), field, first["msg"] + extra
        ) from exc
