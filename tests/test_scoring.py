"""The score step: metrics per (dataset, method) under named protocols, bootstrap intervals,
gains, the written report."""

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
from vea_augment.method.protocols.paper import NORMALIZER as PAPER_NORMALIZER
from vea_augment.method.protocols.strict import NORMALIZER as STRICT_NORMALIZER
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
PAPER_EM, STRICT_EM = "paper.exact_match", "strict.exact_match"
DEFAULT_METRICS = [
    "paper.exact_match",
    "paper.token_f1",
    "strict.exact_match",
    "strict.token_f1",
    "anls.anls",
]
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


def score(records: list[dict[str, Any]], protocols: str | None = None) -> ScoreReport:
    predictions = [Prediction.model_validate(r) for r in records]
    return score_predictions(predictions, "test.jsonl", RESAMPLES, seed=0, protocols=protocols)


def row(report: ScoreReport, method: str, dataset: str = "docs") -> MethodScores:
    (found,) = [r for r in report.rows if r.method == method and r.dataset == dataset]
    return found


def docs_base_vs_vea() -> list[dict[str, Any]]:
    """Strict EM: base right on a, b; vea right on a, c, d (wins c and d, loses b).
    The paper's containment EM also counts base's "red cars" for "red car" (c)."""
    refs = {"a": "cat", "b": "dog", "c": "red car", "d": "42"}
    base = {"a": "cat", "b": "dog", "c": "red cars", "d": "41"}
    vea = {"a": "cat", "b": "a cow", "c": "red car", "d": "42"}
    return [pred(i, "base", base[i], [refs[i]]) for i in refs] + [
        pred(i, "vea", vea[i], [refs[i]]) for i in refs
    ]


# --------------------------------------------------------------------------------------------
# Metrics, gains, wins/losses


def test_the_default_report_shows_the_papers_em_beside_strict_em_f1_and_anls():
    report = score(docs_base_vs_vea())
    assert [r.method for r in report.rows] == ["base", "vea"]
    assert list(row(report, "base").scores) == DEFAULT_METRICS
    assert [p.name for p in report.protocols] == ["paper", "strict", "anls"]
    assert report.decision_metric == PAPER_EM


def test_paper_em_counts_a_contained_reference_where_strict_em_needs_equality():
    report = score(docs_base_vs_vea())
    base, vea = row(report, "base"), row(report, "vea")
    assert (base.n, vea.n) == (4, 4)
    assert base.scores[STRICT_EM].value == 0.5
    assert base.scores[PAPER_EM].value == 0.75  # "red cars" contains "red car"
    assert vea.scores[STRICT_EM].value == 0.75
    assert vea.scores[PAPER_EM].value == 0.75
    assert vea.gain_over_base[STRICT_EM].value == pytest.approx(0.25)
    assert vea.gain_over_base[PAPER_EM].value == pytest.approx(0.0)


def test_wins_and_losses_follow_the_papers_em_by_default_and_the_first_protocol_if_chosen():
    # Paper EM: vea wins d ("42") and loses b ("a cow"); c is right under both.
    assert (
        row(score(docs_base_vs_vea()), "vea").wins,
        row(score(docs_base_vs_vea()), "vea").losses,
    ) == (1, 1)
    strict_first = score(docs_base_vs_vea(), protocols="strict,paper")
    assert strict_first.decision_metric == STRICT_EM
    assert (row(strict_first, "vea").wins, row(strict_first, "vea").losses) == (2, 1)
    base = row(strict_first, "base")
    assert base.gain_over_base == {}
    assert base.wins is None and base.losses is None


def test_chosen_protocols_are_the_only_columns_in_the_order_given():
    report = score(docs_base_vs_vea(), protocols="anls,strict")
    assert list(row(report, "base").scores) == ["anls.anls", STRICT_EM, "strict.token_f1"]
    assert [p.name for p in report.protocols] == ["anls", "strict"]
    # ANLS decides: vea is higher on b? "a cow" vs "dog" -> 0; base "dog" -> 1: a loss;
    # c: 7/8 -> 1 and d: 0 -> 1 are wins.
    assert (row(report, "vea").wins, row(report, "vea").losses) == (2, 1)


def test_an_unknown_protocol_is_refused_with_the_known_names():
    with pytest.raises(ConfigError, match=r"unknown scoring protocol 'squad'; known: anls, "):
        score(docs_base_vs_vea(), protocols="squad")


def test_token_f1_and_anls_are_averaged_per_sample():
    report = score(docs_base_vs_vea())
    base = row(report, "base")
    # strict: a, b exact (1, 1); "red cars" vs "red car": p = r = 1/2 -> F1 1/2; "41" vs "42": 0.
    assert base.scores["strict.token_f1"].value == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    # paper: lemmas make "red cars" {red, car} = "red car" -> 1.
    assert base.scores["paper.token_f1"].value == pytest.approx((1 + 1 + 1 + 0) / 4)
    # ANLS: "red cars" vs "red car" -> distance 1/8 -> 7/8; "41" vs "42" -> 1/2, not < 0.5 -> 0.
    assert base.scores["anls.anls"].value == pytest.approx((1 + 1 + 7 / 8 + 0) / 4)
    assert row(report, "vea").gain_over_base["strict.token_f1"].value == pytest.approx(
        (1 + 0 + 1 + 1) / 4 - 2.5 / 4
    )


def test_gains_pair_only_ids_answered_by_both_methods():
    records = [*docs_base_vs_vea(), pred("e", "vea", "yes", ["yes"])]
    vea = row(score(records), "vea")
    assert vea.n == 5
    assert vea.scores[STRICT_EM].value == pytest.approx(0.8)
    assert vea.gain_over_base[STRICT_EM].value == pytest.approx(0.25)  # over a..d only


def test_an_error_prediction_scores_zero_everywhere_and_is_counted():
    records = [
        pred("a", "base", "cat", ["cat"]),
        pred("b", "base", None, ["dog", "dog"]),
    ]
    base = row(score(records), "base")
    assert base.n == 2
    assert base.errors == 1
    assert {metric: interval.value for metric, interval in base.scores.items()} == dict.fromkeys(
        DEFAULT_METRICS, 0.5
    )
    metrics = [*DEFAULT_METRICS, "vqa.accuracy", "relaxed.accuracy"]
    assert sample_scores(Prediction.model_validate(records[1]), metrics) == dict.fromkeys(
        metrics, 0.0
    )


def test_vqa_accuracy_is_shown_by_default_only_where_every_sample_has_ten_references():
    ten = ["cat"] * 3 + ["dog"] * 7
    with_ten = row(score([pred("a", "base", "cat", ten)]), "base")
    # Leaving out one of the 3 "cat" answers leaves 2 matches -> 2/3; leaving out a "dog" -> 1.
    assert with_ten.scores["vqa.accuracy"].value == pytest.approx((3 * 2 / 3 + 7 * 1) / 10)
    assert "vqa.accuracy" not in row(score([pred("a", "base", "cat", ["cat"] * 9)]), "base").scores
    mixed = score([pred("a", "base", "cat", ten), pred("b", "base", "cat", ["cat"])])
    assert "vqa.accuracy" not in row(mixed, "base").scores


def test_vqa_accuracy_when_asked_needs_only_two_references_per_sample():
    two = row(score([pred("a", "base", "two", ["2", "2"])], protocols="vqa"), "base")
    # Each leave-one-out subset holds one matching "2": min(1/3, 1).
    assert two.scores["vqa.accuracy"].value == pytest.approx(1 / 3)
    one = row(score([pred("a", "base", "cat", ["cat"])], protocols="vqa,strict"), "base")
    assert list(one.scores) == [STRICT_EM, "strict.token_f1"]


def test_relaxed_accuracy_is_shown_on_chart_datasets_or_when_asked():
    records = [
        pred("a", "base", "104", ["100"], dataset="chartqa"),
        pred("b", "base", "1,000", ["1000"], dataset="chartqa"),
        pred("c", "base", "Blue", ["red"], dataset="chartqa"),
        pred("a", "base", "104", ["100"], dataset="docs"),
    ]
    report = score(records)
    assert row(report, "base", "chartqa").scores["relaxed.accuracy"].value == pytest.approx(2 / 3)
    assert "relaxed.accuracy" not in row(report, "base", "docs").scores
    asked = score(records, protocols="relaxed")
    assert row(asked, "base", "docs").scores["relaxed.accuracy"].value == 1.0


@pytest.mark.parametrize(
    ("answer", "reference", "strict", "paper"),
    [
        (" The  Cat.", "cat", 1.0, 1.0),
        ("an Apple!", "apple", 1.0, 1.0),
        ("cats", "cat", 0.0, 1.0),
        ("15 apples", "5", 0.0, 1.0),
        ("don’t know", "don't know", 1.0, 1.0),
    ],
)
def test_answers_are_normalised_before_exact_match(
    answer: str, reference: str, strict: float, paper: float
):
    scores = row(score([pred("a", "base", answer, [reference])]), "base").scores
    assert (scores[STRICT_EM].value, scores[PAPER_EM].value) == (strict, paper)


def test_predictions_without_references_are_excluded_from_every_count():
    records = [pred("a", "base", "cat", ["cat"]), pred("b", "base", "dog", [])]
    base = row(score(records), "base")
    assert (base.n, base.errors, base.scores[PAPER_EM].value) == (1, 0, 1.0)


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
    assert row(several, "vea", "m2/docs").gain_over_base[PAPER_EM].value == 1.0


def test_a_method_without_base_in_its_dataset_has_no_gains():
    vea = row(score([pred("a", "vea", "cat", ["cat"])]), "vea")
    assert vea.gain_over_base == {}
    assert vea.wins is None and vea.losses is None


def test_report_names_the_protocol_and_normaliser_of_every_number():
    report = score(docs_base_vs_vea())
    protocols = {p.name: p for p in report.protocols}
    assert protocols["paper"].normalizer == PAPER_NORMALIZER
    assert protocols["strict"].normalizer == STRICT_NORMALIZER
    assert protocols["paper"].metrics == {PAPER_EM: "EM paper", "paper.token_f1": "F1 paper"}
    assert "qa-metrics" in protocols["paper"].reference
    named = {metric for p in report.protocols for metric in p.metrics}
    assert all(set(r.scores) <= named for r in report.rows)
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
    em = base.scores[PAPER_EM]
    assert (em.value, em.low, em.high) == (1.0, 1.0, 1.0)


def test_bootstrap_interval_edge_cases():
    empty = bootstrap_interval([], RESAMPLES, seed=0)
    assert (empty.value, empty.low, empty.high) == (None, None, None)
    no_resamples = bootstrap_interval([1.0, 0.0], 0, seed=0)
    assert (no_resamples.value, no_resamples.low, no_resamples.high) == (0.5, None, None)


def test_paired_gain_interval_brackets_the_gain():
    gain = row(score(docs_base_vs_vea()), "vea").gain_over_base[STRICT_EM]
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


def test_seeing_not_believing_judges_base_by_the_decision_metric():
    records = [
        pred("a", "base", "red cars", ["red car"], attribution_auroc=0.9),
        pred("b", "base", "blue", ["red car"], attribution_auroc=0.3),
    ]
    (paper,) = score(records).seeing_not_believing  # "red cars" contains "red car": right
    assert (paper.auroc_when_base_right, paper.auroc_when_base_wrong) == (0.9, 0.3)
    (strict,) = score(records, protocols="strict").seeing_not_believing
    assert (strict.auroc_when_base_right, strict.n_wrong) == (None, 2)


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
    assert PAPER_NORMALIZER in markdown and STRICT_NORMALIZER in markdown
    assert "- Decision metric: EM paper (`paper.exact_match`)" in markdown
    assert report.error_policy in markdown
    header = "| method | n | errors | EM paper [95% CI] | F1 paper | EM strict | F1 strict | ANLS |"
    assert header + " ΔEM paper vs base [CI] | wins/losses |" in markdown
    assert "| base | 4 | 0 | 75.0 [" in markdown
    assert "] | 75.0 | 50.0 | 62.5 | 71.9 | — | — |" in markdown  # F1 paper, EM and F1 strict, ANLS
    assert "| vea | 4 | 0 | 75.0 [" in markdown
    assert "| 1/1 |" in markdown
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


def test_markdown_gain_column_is_in_signed_points_of_the_decision_metric():
    markdown = render_markdown(score(docs_base_vs_vea(), protocols="strict"))
    assert "| ΔEM strict vs base [CI] |" in markdown
    (vea_line,) = [line for line in markdown.splitlines() if line.startswith("| vea |")]
    assert "| +25.0 [" in vea_line


def assert_informative_png(path: Path) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG"
        width, height = image.size
        assert width >= 400 and height >= 300
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 1


# --------------------------------------------------------------------------------------------
# Command line


def test_the_score_command_chooses_protocols_and_refuses_unknown_ones(tmp_path: Path):
    from click.testing import CliRunner

    from vea_augment.cli import cli

    path = write_jsonl(tmp_path / "p.jsonl", docs_base_vs_vea())
    chosen = CliRunner().invoke(cli, ["score", str(path), "--protocols", "strict,anls"])
    assert chosen.exit_code == 0, chosen.output
    report = ScoreReport.model_validate_json((tmp_path / "p.report.json").read_text())
    assert list(row(report, "base").scores) == [STRICT_EM, "strict.token_f1", "anls.anls"]
    assert "- Decision metric: EM strict (`strict.exact_match`)" in chosen.output
    prefix = str(tmp_path / "paper")
    single = CliRunner().invoke(cli, ["score", str(path), "--protocol", "paper", "-o", prefix])
    assert single.exit_code == 0, single.output
    assert "EM paper [95% CI] | F1 paper | ΔEM paper vs base [CI]" in single.output
    unknown = CliRunner().invoke(cli, ["score", str(path), "--protocols", "squad"])
    assert unknown.exit_code == 1
    assert "Error: unknown scoring protocol 'squad'" in unknown.output
