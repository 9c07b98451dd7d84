"""A reduced `vea-augment demo` end to end on the bundled model (what a new user runs first)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from vea_augment.cli import cli
from vea_augment.demo.train import BUNDLED_MODEL_DIR
from vea_augment.schemas.profile import LayerProfile
from vea_augment.schemas.report import ScoreReport


def test_the_bundled_model_ships_inside_the_package_within_20_mb():
    files = {path.name: path.stat().st_size for path in BUNDLED_MODEL_DIR.iterdir()}
    assert "model.safetensors" in files and "config.json" in files
    assert "tokenizer.json" in files and "training.json" in files
    assert sum(files.values()) <= 20 * 1024 * 1024


def test_the_training_record_holds_the_recipe_and_the_held_out_metrics():
    record = json.loads((BUNDLED_MODEL_DIR / "training.json").read_text())
    assert record["recipe"]["steps"] > 0 and "seed" in record["recipe"]
    held_out = record["evaluation"]
    assert 0.0 <= held_out["exact_match_base_prompt"]["all"] <= 1.0
    assert len(held_out["auroc_by_layer"]) == record["recipe"]["num_layers"]
    assert held_out["chosen_layers_mean_auroc"] == max(
        value for value in held_out["auroc_by_layer"] if value is not None
    )


def test_the_bundled_model_answers_held_out_questions_above_chance():
    """Guessing among the objects' colours or shapes scores about 0.2; random weights score
    0. (The issue's 90 % target is not reached yet: see training.json.)"""
    from vea_augment.answering.transformers_backend import TransformersBackend
    from vea_augment.demo.corpus import generate_samples
    from vea_augment.demo.evaluate import answer_accuracy
    from vea_augment.demo.train import HELD_OUT_SEED
    from vea_augment.models.loading import LoadOptions

    backend = TransformersBackend.load(str(BUNDLED_MODEL_DIR), LoadOptions(dtype="float32"))
    samples = generate_samples(32, HELD_OUT_SEED, kinds=("shapes",))
    assert answer_accuracy(backend, samples, "base")["all"] >= 0.25


@pytest.mark.slow
def test_a_reduced_demo_runs_end_to_end(tmp_path):
    output = tmp_path / "demo"
    result = CliRunner().invoke(
        cli, ["demo", "--output", str(output), "--samples", "8", "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    profile = LayerProfile.model_validate_json((output / "profile.json").read_text())
    assert profile.sample_count == 8 and profile.excluded == []
    assert sorted(p.name for p in (output / "augmented").glob("shard-*.tar")) == ["shard-00000.tar"]
    lines = (output / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == 2 * 8 * 2  # two conditions x eight samples x base and vea
    report = ScoreReport.model_validate_json((output / "report.json").read_text())
    rows = {(row.dataset, row.method) for row in report.rows}
    assert rows == {
        (dataset, method)
        for dataset in ("synthetic-clean", "synthetic-noise")
        for method in ("base", "vea")
    }
    assert {entry.dataset for entry in report.seeing_not_believing} == {
        "synthetic-clean",
        "synthetic-noise",
    }
    for name in ("corpus", "augmented", "predictions.jsonl", "report.md", "report.png"):
        assert str(output / name) in result.output
