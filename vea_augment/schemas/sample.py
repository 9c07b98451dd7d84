"""The input contract: one VQA sample with optional evidence boxes (DESIGN.md, Data contracts)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field, field_validator

from vea_augment.schemas.common import Contract, EvidenceBox, validate_record


class InputSample(Contract):
    """A sample's ``.json`` (WebDataset) or one JSONL line beside an image folder.

    Unknown fields are kept (``extra="allow"``) because the output sidecar is the input record
    plus a ``vea`` block: nothing a user put in a record is lost.
    """

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, description="Unique sample id within the corpus.")
    question: str = Field(min_length=1, description="The question asked about the image.")
    answers: list[str] = Field(
        default_factory=list, description="Reference answers (any one counts for exact match)."
    )
    evidence_boxes: list[EvidenceBox] = Field(
        default_factory=list,
        description="Ground-truth evidence boxes [x0, y0, x1, y1] in original pixels.",
    )
    dataset: str | None = Field(default=None, description="Source dataset name, for reports.")
    image: str | None = Field(
        default=None, description="JSONL only: image path relative to the JSONL file."
    )

    @field_validator("id", mode="before")
    @classmethod
    def _id_to_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("question")
    @classmethod
    def _question_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question is blank")
        return value


def parse_input_sample(record: Any) -> InputSample:
    """Validate one input record; errors name the sample id and the field."""
    return validate_record(InputSample, record)
