"""The data contracts: validation rules, error messages, and the exported JSON Schemas."""

from __future__ import annotations

import json

import pytest

from vea_augment.errors import SampleValidationError
from vea_augment.schemas import (
    LayerProfile,
    LayerScore,
    ShardStats,
    VEASidecar,
    parse_input_sample,
)
from vea_augment.schemas.export import CONTRACTS, export_schemas, schema_text, stale_schemas


def test_committed_json_schemas_match_the_models():
    assert stale_schemas() == []


def test_stale_schema_file_is_detected(tmp_path):
    export_schemas(tmp_path)
    path = tmp_path / "input_sample.schema.json"
    path.write_text(path.read_text().replace('"question"', '"query"'))
    assert stale_schemas(tmp_path) == ["input_sample"]


def test_every_contract_exports_a_parseable_schema_with_a_title():
    for model in CONTRACTS.values():
        schema = json.loads(schema_text(model))
        assert schema["title"] == model.__name__


def test_input_sample_keeps_unknown_fields_for_the_sidecar():
    sample = parse_input_sample(
        {"id": "q1", "question": "What?", "answers": ["a"], "source_page": 3}
    )
    assert sample.model_dump()["source_page"] == 3
    assert sample.evidence_boxes == []


def test_integer_sample_id_becomes_a_string():
    assert parse_input_sample({"id": 17, "question": "Why?"}).id == "17"


@pytest.mark.parametrize(
    ("record", "field", "fragment"),
    [
        ({"id": "q1", "question": "x", "answers": [3]}, "answers.0", "valid string"),
        ({"id": "q2", "answers": ["a"]}, "question", "Field required"),
        ({"id": "q3", "question": "   "}, "question", "blank"),
        (
            {"id": "q4", "question": "x", "evidence_boxes": [[5, 5, 1, 1]]},
            "evidence_boxes.0",
            "x0 <= x1",
        ),
        (
            {"id": "q5", "question": "x", "evidence_boxes": [[0, 0, 1]]},
            "evidence_boxes.0.3",
            "Field required",
        ),
        (
            {"id": "q6", "question": "x", "evidence_boxes": [[0, 0, float("nan"), 1]]},
            "evidence_boxes.0",
            "non-finite",
        ),
    ],
)
def test_validation_error_names_the_sample_and_the_field(record, field, fragment):
    with pytest.raises(SampleValidationError) as caught:
        parse_input_sample(record)
    error = caught.value
    assert error.sample_id == record["id"]
    assert error.field == field
    assert fragment in error.message
    assert str(error).startswith(f"sample {record['id']!r}: field {field!r}")


def test_record_without_id_is_reported_as_such():
    with pytest.raises(SampleValidationError, match="sample with no id: field 'id'"):
        parse_input_sample({"question": "x"})


def test_non_object_record_is_a_validation_error():
    with pytest.raises(SampleValidationError):
        parse_input_sample(["not", "a", "record"])


def _profile(**changes):
    base = {
        "model_id": "tiny",
        "num_layers": 12,
        "top_frac": 0.1,
        "chosen_layers": [7, 9],
        "sample_count": 5,
        "layers": [LayerScore(layer=i, auroc_mean=0.5, n_samples=5) for i in range(12)],
    }
    base.update(changes)
    return LayerProfile(**base)


def test_profile_keeps_ceil_of_top_fraction_layers():
    assert _profile().chosen_layers == [7, 9]  # ceil(0.1 * 12) = 2
    with pytest.raises(ValueError, match=r"expected ceil\(0.1 x 12\) = 2"):
        _profile(chosen_layers=[7])


def test_profile_refuses_layers_outside_the_model():
    with pytest.raises(ValueError, match=r"outside the model's layers 0..11"):
        _profile(chosen_layers=[7, 12])


def test_published_profile_may_list_any_number_of_layers():
    assert _profile(source="published", chosen_layers=[3]).chosen_layers == [3]


def _sidecar(**changes):
    base = {
        "status": "ok",
        "model": "m",
        "layers": [1],
        "alpha": 0.5,
        "sigma": 0.5,
        "lam": 10.0,
        "tool_version": "0",
    }
    base.update(changes)
    return VEASidecar(**base)


def test_error_sidecar_must_give_a_reason():
    assert _sidecar(status="error", reason="corrupt image").reason == "corrupt image"
    with pytest.raises(ValueError, match="must say why"):
        _sidecar(status="error")


@pytest.mark.parametrize("alpha", [-0.1, 1.5])
def test_sidecar_refuses_alpha_outside_unit_interval(alpha):
    with pytest.raises(ValueError):
        _sidecar(alpha=alpha)


def test_contracts_refuse_unknown_fields_except_the_input_sample():
    with pytest.raises(ValueError, match="Extra inputs"):
        ShardStats(shard=0, source="a", output="b", total=1, ok=1, errors=0, surprise=1)
