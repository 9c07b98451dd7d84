"""The oracle answer method end to end: augment (tiny real VLM on local Ray), answer with
``--methods base,vea,oracle`` (transformers backend), score. The oracle image is Eq. 4 of the
ORIGINAL with the ground-truth boxes' mask and the sidecar's alpha, checked here pixel for
pixel against an independent computation; a sample without boxes fails the oracle alone."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from click.testing import CliRunner
from PIL import Image
from synthetic_images import encoded, noise_image
from tiny_jobs import tiny_augment_job

from vea_augment.answering.backend import AnswerRequest
from vea_augment.answering.factory import BackendSpec
from vea_augment.answering.methods import METHODS, parse_methods
from vea_augment.cli import cli
from vea_augment.data.augmented import originals_beside, read_answer_shard, to_shard_sample
from vea_augment.data.predictions_file import read_predictions
from vea_augment.data.readers import RawSample
from vea_augment.data.sources import plan_shards
from vea_augment.jobs.augment import run_augment_job
from vea_augment.models.prompting import VEA_INSTRUCTION
from vea_augment.options import MaskConfig, ModelOptions
from vea_augment.schemas.report import ScoreReport
from vea_augment.steps.answer import answer_samples, oracle_image

#: Not the paper's 0.5, so a test sees that the oracle takes the sidecar's alpha; a power of
#: two, so value * ALPHA is exact and the expected image needs no float32 subtleties.
ALPHA = 0.25
#: key -> (width, height, format, evidence boxes); "edge" reaches past two image edges.
SAMPLES = {
    "boxed": (48, 40, "PNG", [[4, 4, 24, 20]]),
    "edge": (56, 40, "JPEG", [[30, 2, 99, 12], [-6, 30, 10, 60]]),
    "noboxes": (40, 48, "PNG", []),
}


def expected_oracle(original: np.ndarray, boxes: list[list[int]], alpha: float) -> np.ndarray:
    """Eq. 4 written out: integer box [x0, y0, x1, y1] keeps pixels x0 <= x < x1, y0 <= y < y1
    (clipped to the image); every other pixel is rint(value * alpha), half to even."""
    keep = np.zeros(original.shape[:2], dtype=bool)
    for x0, y0, x1, y1 in boxes:
        keep[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    dimmed = np.rint(original.astype(np.float64) * alpha).astype(np.uint8)
    return np.where(keep[:, :, None], original, dimmed)


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as opened:
        return np.asarray(opened.convert("RGB"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    """One input tar of SAMPLES, and each sample's image bytes as written."""
    root = tmp_path_factory.mktemp("oracle-input")
    images = {}
    with wds.TarWriter(str(root / "in-00000.tar")) as sink:
        for seed, (key, (width, height, fmt, boxes)) in enumerate(SAMPLES.items()):
            images[key] = encoded(noise_image(width, height, seed), fmt)
            record = {"id": key, "question": "What is shown?", "answers": ["noise"]}
            if boxes:
                record["evidence_boxes"] = boxes
            extension = "jpg" if fmt == "JPEG" else "png"
            sink.write({"__key__": key, "json": record, extension: images[key]})
    return root / "in-00000.tar", images


@pytest.fixture(scope="module")
def augmented(inputs, tmp_path_factory, model_dir, local_ray) -> Path:
    """The augment output of ``inputs`` at alpha = ALPHA, originals not kept (the answer step
    finds them through _manifest.json)."""
    output = tmp_path_factory.mktemp("oracle-run") / "augmented"
    job = tiny_augment_job(str(inputs[0]), output, model_dir)
    job = replace(job, settings=replace(job.settings, mask=MaskConfig(alpha=ALPHA)))
    summary = run_augment_job(job, show_progress=False)
    assert (summary.ok, summary.errors) == (3, 0)
    return output


class RecordingBackend:
    """The real transformers backend, keeping every request it was given."""

    def __init__(self, model_dir: Path) -> None:
        spec = BackendSpec(
            "transformers", str(model_dir), ModelOptions(dtype="float32", device="cpu")
        )
        self.inner = spec.build()
        self.name, self.model_id = self.inner.name, self.inner.model_id
        self.requests: list[AnswerRequest] = []

    def answer(self, requests):
        self.requests.extend(requests)
        return self.inner.answer(requests)


def test_oracle_is_the_vea_prompt_with_the_oracle_image():
    assert (METHODS["oracle"].prompt_style, METHODS["oracle"].images) == ("vea", ("oracle",))
    assert [m.name for m in parse_methods("base,vea,oracle")] == ["base", "vea", "oracle"]


def test_oracle_requests_carry_eq4_of_the_original_at_the_sidecars_alpha(
    augmented, inputs, model_dir
):
    (task,) = plan_shards(str(augmented))
    backend = RecordingBackend(model_dir)
    samples = read_answer_shard(task, originals_beside(task))
    predictions = answer_samples(samples, parse_methods("base,oracle"), backend)
    by_pair = {(p.id, p.method): p for p in predictions}
    # Requests go in sample order, base before oracle; "noboxes" sends only its base.
    sent = [request.images for request in backend.requests]
    assert len(sent) == 5 and all(len(images) == 1 for images in sent)
    originals = {key: pixels(data) for key, data in inputs[1].items()}
    for index, key in ((1, "boxed"), (3, "edge")):
        (oracle,) = sent[index]
        assert oracle.extension == "png" and oracle.name == f"{key}.oracle"
        expected = expected_oracle(originals[key], SAMPLES[key][3], ALPHA)
        np.testing.assert_array_equal(pixels(oracle.data), expected)
        np.testing.assert_array_equal(pixels(sent[index - 1][0].data), originals[key])
        assert by_pair[(key, "oracle")].status == "ok"
        assert by_pair[(key, "oracle")].images == ["oracle"]
        assert f"{VEA_INSTRUCTION} Question: What is shown?" in by_pair[(key, "oracle")].prompt
    assert by_pair[("noboxes", "base")].status == "ok"
    refused = by_pair[("noboxes", "oracle")]
    assert (refused.status, refused.reason) == ("error", "oracle: sample has no evidence_boxes")
    assert {p.shard for p in predictions} == {0}


def test_cli_answers_base_vea_and_oracle_then_score_reports_an_oracle_row(
    augmented, model_dir, tmp_path
):
    output = tmp_path / "predictions.jsonl"
    answered = CliRunner().invoke(
        cli,
        [
            "answer", "--model", str(model_dir), "--input", str(augmented), "--output",
            str(output), "--methods", "base,vea,oracle", "--dtype", "float32", "--device",
            "cpu", "--no-progress",
        ],
    )  # fmt: skip
    assert answered.exit_code == 0, answered.output
    assert "predictions: 9 written (1 errors), 0 already there" in answered.output
    assert "1  oracle: sample has no evidence_boxes" in answered.output
    predictions = {(p.id, p.method): p for p in read_predictions(output).predictions}
    assert len(predictions) == 9
    assert [key for key, p in predictions.items() if p.status == "error"] == [("noboxes", "oracle")]
    scored = CliRunner().invoke(cli, ["score", str(output), "--resamples", "100"])
    assert scored.exit_code == 0, scored.output
    report = ScoreReport.model_validate_json(
        output.with_name("predictions.report.json").read_text()
    )
    rows = {row.method: row for row in report.rows}
    assert list(rows) == ["base", "vea", "oracle"]
    assert (rows["oracle"].n, rows["oracle"].errors) == (3, 1)
    gain = rows["oracle"].gain_over_base[report.decision_metric]
    assert gain.value is not None  # paired over the two samples both methods answered
    markdown = output.with_name("predictions.report.md").read_text()
    assert any(line.startswith("| oracle |") for line in markdown.splitlines())


def test_a_kept_original_is_dimmed_not_the_highlighted_member():
    original = np.full((4, 6, 3), 200, dtype=np.uint8)
    raw = RawSample(
        key="k",
        record={
            "id": "k",
            "question": "Q?",
            "evidence_boxes": [[2, 1, 4, 3]],
            "vea": {"status": "ok", "alpha": 0.5},
        },
        image=encoded(Image.fromarray(np.zeros((4, 6, 3), np.uint8))),
        image_ext="png",
        extras={"orig.png": encoded(Image.fromarray(original))},
    )
    sample = to_shard_sample(raw, shard=0)
    assert oracle_image(sample) is None
    expected = np.full((4, 6, 3), 100, dtype=np.uint8)
    expected[1:3, 2:4] = 200
    np.testing.assert_array_equal(pixels(sample.images["oracle"].data), expected)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (
            {"evidence_boxes": [[50, 50, 60, 60]]},
            "oracle: the evidence boxes cover no pixel of the 6x4 image",
        ),
        (
            {"evidence_boxes": [[3, 0, 1, 2]]},
            "oracle: evidence boxes: 1 box(es) have x1 < x0 or y1 < y0 (boxes are [x0, y0, x1, "
            "y1])",
        ),
        (
            {"evidence_boxes": [[0, 0, 2, 2]], "vea": {"status": "ok", "alpha": "high"}},
            "oracle: the vea sidecar has no numeric alpha (got 'high')",
        ),
        (
            {"evidence_boxes": [[0, 0, 2, 2]], "vea": {"status": "ok", "alpha": 1.5}},
            "oracle: the vea sidecar's alpha 1.5 is outside [0, 1]",
        ),
    ],
)
def test_an_oracle_that_cannot_be_built_says_why(record, reason):
    image = encoded(Image.fromarray(np.full((4, 6, 3), 9, np.uint8)))
    extras = {"orig.png": image} if "vea" in record else {}
    raw = RawSample(
        key="k", record={"id": "k", "question": "Q?", **record}, image=image, image_ext="png",
        extras=extras,
    )  # fmt: skip
    sample = to_shard_sample(raw, shard=0)
    assert sample.why_unanswerable(("original",)) is None
    assert oracle_image(sample) == reason
    assert sample.missing["oracle"] == reason and "oracle" not in sample.images


def test_a_plain_input_with_boxes_is_dimmed_at_the_papers_alpha():
    image = np.full((2, 3, 3), 101, dtype=np.uint8)
    raw = RawSample(
        key="p",
        record={"id": "p", "question": "Q?", "evidence_boxes": [[0, 0, 1, 2]]},
        image=encoded(Image.fromarray(image)),
        image_ext="png",
    )
    sample = to_shard_sample(raw, shard=0)
    assert oracle_image(sample) is None
    # 101 * 0.5 = 50.5 rounds half to even: 50.
    assert pixels(sample.images["oracle"].data)[:, :, 0].tolist() == [[101, 50, 50]] * 2
    assert MaskConfig().alpha == 0.5
    assert sample.missing == {"highlighted": "not an augment output (no vea block)"}
