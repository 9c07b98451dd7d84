"""The score step: metrics per (dataset, method), bootstrap intervals, gains, the written report."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from vea_augment._version import __version__
from vea_augment.errors import ConfigError
from vea_augment.jobs.score import output_paths, write_score_report
from vea_augment.method.answer_metrics import NORMALIZER_NAME
from vea_augment.reports.score_report import render_markdown
from vea_augment.schemas.prediction import Prediction
from vea_augment.schemas.report import MethodScores, ScoreReport
from vea_augment.steps.score import (
    bootstrap_interval,
    read_predictions,
    sample_scores,
    score_predictions,
)

RESAMPLES = 200
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "vea_augment" / "schemas" / "json"


def pred(
    sample_id: str,
    method: str,
    answer: str | None,
    references: list[str],
    dataset: str | None = "docs",
    model: str = "m",
    **extra: Any,
) -> dict[str, Any]:
    """A prediction record as ``answer`` writes it; answer None makes it an error line."""
    record: dict[str, Any] = {
        "id": sample_id,
        "dataset": dataset,
        "method": method,
        "model": model,
        "prompt": "Q?",
        "prediction": answer,
        "references": references,
    }
    if answer is None:
        record.update(status="error", reason="out of memory")
    record.update(extra)
    return record


def write_jsonl(path: Path, records: list[dict[str, Any]], tail: str = "") -> Path:
    """One JSON object per line, then ``tail`` verbatim (for malformed or truncated lines)."""
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail, encoding="utf-8")
    return path


def score(records: list[dict[str, Any]]) -> ScoreReport:
    predictions = [Prediction.model_validate(r) for r in records]
    return score_predictions(predictions, "test.jsonl", resamples=RESAMPLES, seed=0)


def row(report: ScoreReport, method: str, dataset: str = "docs") -> MethodScores:
    (found,) = [r for r in report.rows if r.method == method and r.dataset == dataset]
    return found


def docs_base_vs_vea() -> list[dict[str, Any]]:
    """Base right on a, b; vea right on a, c, d: wins c and d, loses b."""
    refs = {"a": "cat", "b": "dog", "c": "red car", "d": "42"}
    base = {"a": "cat", "b": "dog", "c": "red cars", "d": "41"}
    vea = {"a": "cat", "b": "a cow", "c": "red car", "d": "42"}
    return [pred(i, "base", base[i], [refs[i]]) for i in refs] + [
        pred(i, "vea", vea[i], [refs[i]]) for i in refs
    ]


# --------------------------------------------------------------------------------------------
# Metrics, gains, wins/losses


def test_exact_match_gain_wins_and_losses_on_a_hand_made_dataset():
    report = score(docs_base_vs_vea())
    base, vea = row(report, "base"), row(report, "vea")
    assert [r.method for r in report.rows] == ["base", "vea"]
    assert (base.n, vea.n) == (4, 4)
    assert base.exact_match.value == 0.5
    assert vea.exact_match.value == 0.75
    assert vea.gain_over_base["exact_match"].value == pytest.approx(0.25)
    assert (vea.wins, vea.losses) == (2, 1)
    assert base.gain_over_base == {}
    assert base.wins is None and base.losses is None


def test_token_f1_and_anls_are_averaged_per_sample():
    report = score(docs_base_vs_vea())
    # base: a, b exact (1, 1); "red cars" vs "red car": p = r = 1/2 -> F1 1/2; "41" vs "42": 0.
    assert row(report, "base").token_f1.value == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    # ANLS: "red cars" vs "red car" -> distance 1/8 -> 7/8; "41" vs "42" -> 1/2, not < 0.5 -> 0.
    assert row(report, "base").anls.value == pytest.approx((1 + 1 + 7 / 8 + 0) / 4)
    assert row(report, "vea").gain_over_base["token_f1"].value == pytest.approx(
        (1 + 0 + 1 + 1) / 4 - 2.5 / 4
    )


def test_gains_pair_only_ids_answered_by_both_methods():
    records = [*docs_base_vs_vea(), pred("e", "vea", "yes", ["yes"])]
    vea = row(score(records), "vea")
    assert vea.n == 5
    assert vea.exact_match.value == pytest.approx(0.8)
    assert vea.gain_over_base["exact_match"].value == pytest.approx(0.25)  # over a..d only


def test_an_error_prediction_scores_zero_everywhere_and_is_counted():
    records = [
        pred("a", "base", "cat", ["cat"]),
        pred("b", "base", None, ["dog", "dog"]),
    ]
    base = row(score(records), "base")
    assert base.n == 2
    assert base.errors == 1
    assert base.exact_match.value == 0.5
    assert base.token_f1.value == 0.5
    assert base.anls.value == 0.5
    assert sample_scores(Prediction.model_validate(records[1]), with_vqa=True) == {
        "exact_match": 0.0,
        "token_f1": 0.0,
        "anls": 0.0,
        "vqa_accuracy": 0.0,
    }


def test_vqa_accuracy_needs_at_least_two_references_on_every_sample():
    ten = ["cat"] * 3 + ["dog"] * 7
    with_ten = score([pred("a", "base", "cat", ten)])
    # Leaving out one of the 3 "cat" answers leaves 2 matches -> 2/3; leaving out a "dog" -> 1.
    assert row(with_ten, "base").vqa_accuracy is not None
    assert row(with_ten, "base").vqa_accuracy.value == pytest.approx((3 * 2 / 3 + 7 * 1) / 10)
    with_one = score([pred("a", "base", "cat", ["cat"])])
    assert row(with_one, "base").vqa_accuracy is None
    mixed = score([pred("a", "base", "cat", ten), pred("b", "base", "cat", ["cat"])])
    assert row(mixed, "base").vqa_accuracy is None


@pytest.mark.parametrize(
    ("answer", "reference", "expected"),
    [(" The  Cat.", "cat", 1.0), ("an Apple!", "apple", 1.0), ("cats", "cat", 0.0)],
)
def test_answers_are_normalised_before_exact_match(answer: str, reference: str, expected: float):
    assert row(score([pred("a", "base", answer, [reference])]), "base").exact_match.value == (
        expected
    )


def test_predictions_without_references_are_excluded_from_every_count():
    records = [pred("a", "base", "cat", ["cat"]), pred("b", "base", "dog", [])]
    base = row(score(records), "base")
    assert (base.n, base.errors, base.exact_match.value) == (1, 0, 1.0)


def test_missing_dataset_is_default_and_several_models_prefix_the_model():
    single = score([pred("a", "base", "cat", ["cat"], dataset=None)])
    assert [r.dataset for r in single.rows] == ["default"]
    several = score(
        [
            pred("a", "base", "cat", ["cat"], model="m1"),
            pred("a", "base", "dog", ["cat"], model="m2"),
            pred("a", "vea", "cat", ["cat"], model="m2"),
        ]
    )
    assert [(r.dataset, r.method) for r in several.rows] == [
        ("m1/docs", "base"),
        ("m2/docs", "base"),
        ("m2/docs", "vea"),
    ]
    assert row(several, "vea", "m2/docs").gain_over_base["exact_match"].value == 1.0


def test_a_method_without_base_in_its_dataset_has_no_gains():
    vea = row(score([pred("a", "vea", "cat", ["cat"])]), "vea")
    assert vea.gain_over_base == {}
    assert vea.wins is None and vea.losses is None


def test_report_names_its_protocol():
    report = score(docs_base_vs_vea())
    assert report.normalizer == NORMALIZER_NAME
    assert report.prompt is None
    assert report.predictions == "test.jsonl"
    assert (report.bootstrap_resamples, report.seed) == (RESAMPLES, 0)
    assert report.tool_version == __version__
    assert "error" in report.error_policy and "0" in report.error_policy


# --------------------------------------------------------------------------------------------
# Bootstrap


def test_bootstrap_interval_brackets_the_mean_and_is_deterministic():
    values = np.linspace(0.0, 1.0, 17) ** 2
    first = bootstrap_interval(values, RESAMPLES, seed=3)
    assert first.value == pytest.approx(np.mean(values))
    assert first.low is not None and first.high is not None
    assert first.low <= first.value <= first.high
    assert first.low < first.high
    assert bootstrap_interval(values, RESAMPLES, seed=3) == first
    assert bootstrap_interval(values, RESAMPLES, seed=4) != first


def test_bootstrap_interval_is_a_percentile_interval_of_resampled_means():
    values = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    rng = np.random.default_rng(7)
    means = values[rng.integers(0, values.size, size=(RESAMPLES, values.size))].mean(axis=1)
    interval = bootstrap_interval(values, RESAMPLES, seed=7)
    assert (interval.low, interval.high) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))


def test_a_group_where_every_sample_scores_one_has_a_degenerate_interval():
    base = row(score([pred(i, "base", "cat", ["cat"]) for i in "abcde"]), "base")
    assert (base.exact_match.value, base.exact_match.low, base.exact_match.high) == (1.0, 1.0, 1.0)


def test_bootstrap_interval_edge_cases():
    empty = bootstrap_interval([], RESAMPLES, seed=0)
    assert (empty.value, empty.low, empty.high) == (None, None, None)
    no_resamples = bootstrap_interval([1.0, 0.0], 0, seed=0)
    assert (no_resamples.value, no_resamples.low, no_resamples.high) == (0.5, None, None)


def test_paired_gain_interval_brackets_the_gain():
    gain = row(score(docs_base_vs_vea()), "vea").gain_over_base["exact_match"]
    assert gain.low is not None and gain.high is not None
    assert gain.low <= gain.value <= gain.high


# --------------------------------------------------------------------------------------------
# Seeing but not believing


def test_seeing_not_believing_splits_base_auroc_by_base_correctness():
    records = [
        pred("a", "base", "cat", ["cat"], attribution_auroc=0.9),
        pred("b", "base", "dog", ["dog"], attribution_auroc=0.7),
        pred("c", "base", "cow", ["car"], attribution_auroc=0.8),
        pred("d", "base", None, ["x"], attribution_auroc=0.6),
        pred("e", "base", "no", ["no"]),
        pred("a", "vea", "cat", ["cat"], attribution_auroc=0.1),
    ]
    (entry,) = score(records).seeing_not_believing
    assert entry.dataset == "docs"
    assert entry.auroc_when_base_right == pytest.approx((0.9 + 0.7) / 2)
    assert entry.auroc_when_base_wrong == pytest.approx((0.8 + 0.6) / 2)
    assert (entry.n_right, entry.n_wrong, entry.n_without_auroc) == (2, 2, 1)


def test_seeing_not_believing_row_only_where_base_has_an_auroc():
    records = [
        pred("a", "base", "cat", ["cat"], attribution_auroc=0.9),
        pred("a", "base", "cat", ["cat"], dataset="charts"),
        pred("a", "vea", "cat", ["cat"], dataset="charts", attribution_auroc=0.9),
    ]
    (entry,) = score(records).seeing_not_believing
    assert entry.dataset == "docs"
    assert entry.auroc_when_base_wrong is None
    assert (entry.n_right, entry.n_wrong) == (1, 0)


# --------------------------------------------------------------------------------------------
# Reading predictions.jsonl


def test_malformed_and_truncated_lines_are_skipped_and_counted(tmp_path: Path):
    good = docs_base_vs_vea()
    bad_field = pred("z", "nonsense", "cat", ["cat"])
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [*good[:4], bad_field, *good[4:]],
        tail='not json at all\n\n{"id": "q", "method": "ba',
    )
    loaded = read_predictions(path)
    assert len(loaded.predictions) == 8
    assert [bad.line for bad in loaded.malformed_lines] == [5, 10, 12]
    assert "method" in loaded.malformed_lines[0].reason
    assert "JSON" in loaded.malformed_lines[1].reason


def test_a_later_duplicate_line_wins(tmp_path: Path):
    path = write_jsonl(
        tmp_path / "p.jsonl",
        [pred("a", "base", "dog", ["cat"]), pred("a", "base", "cat", ["cat"])],
    )
    loaded = read_predictions(path)
    assert loaded.duplicates_replaced == 1
    (only,) = loaded.predictions
    assert only.prediction == "cat"


@pytest.mark.parametrize("content", ["", "\n\n", 'garbage\n{"id": 1}\n'])
def test_a_file_without_any_valid_prediction_raises(tmp_path: Path, content: str):
    path = tmp_path / "p.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match="no valid prediction"):
        read_predictions(path)


def test_a_missing_file_raises_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"absent.jsonl.* does not exist"):
        read_predictions(tmp_path / "absent.jsonl")


def test_predictions_that_all_lack_references_cannot_be_scored(tmp_path: Path):
    path = write_jsonl(tmp_path / "p.jsonl", [pred("a", "base", "cat", [])])
    with pytest.raises(ConfigError, match="has references"):
        write_score_report(path, tmp_path / "report", resamples=RESAMPLES)


# --------------------------------------------------------------------------------------------
# Written report


def test_write_score_report_writes_valid_json_markdown_and_png(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    records = [
        *docs_base_vs_vea(),
        pred("a", "base", "cat", ["cat"], dataset="charts", attribution_auroc=0.8),
        pred("a", "vea-both", "dog", ["cat"], dataset="charts"),
    ]
    path = write_jsonl(tmp_path / "p.jsonl", records, tail='{"id": "trunc')
    with caplog.at_level(logging.WARNING, logger="vea_augment.jobs.score"):
        report, written = write_score_report(path, tmp_path / "out" / "report", RESAMPLES, seed=1)
    assert written == list(output_paths(tmp_path / "out" / "report"))
    assert [p.name for p in written] == ["report.json", "report.md", "report.png"]
    assert all(p.is_file() for p in written)
    assert "line 11" in caplog.text

    saved = ScoreReport.model_validate_json(written[0].read_text(encoding="utf-8"))
    assert saved == report
    assert saved.predictions == str(path)
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SCHEMA_DIR / "score_report.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(written[0].read_text(encoding="utf-8")), schema)

    markdown = written[1].read_text(encoding="utf-8")
    assert NORMALIZER_NAME in markdown
    assert report.error_policy in markdown
    assert "| base | 4 | 0 | 50.0 [" in markdown
    assert "| vea | 4 | 0 | 75.0 [" in markdown
    assert "| 2/1 |" in markdown
    assert "| vea-both | 1 | 0 | 0.0 [0.0, 0.0] |" in markdown
    assert markdown.count("| base |") == 2
    assert "Seeing but not believing" in markdown
    assert "line 11" in markdown
    assert_informative_png(written[2])


def test_the_chart_falls_back_to_absolute_exact_match_without_a_compared_method(tmp_path: Path):
    path = write_jsonl(tmp_path / "p.jsonl", [pred("a", "base", "cat", ["cat"])])
    _, written = write_score_report(path, tmp_path / "report", RESAMPLES)
    assert_informative_png(written[2])
    assert "No base prediction carries an attribution AUROC" in written[1].read_text("utf-8")


def test_markdown_gain_column_is_in_signed_points():
    markdown = render_markdown(score(docs_base_vs_vea()))
    (vea_line,) = [line for line in markdown.splitlines() if line.startswith("| vea |")]
    assert "| +25.0 [" in vea_line


def assert_informative_png(path: Path) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width >= 400 and height >= 300
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 1
