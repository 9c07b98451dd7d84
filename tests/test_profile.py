"""Layer profiling end to end: a real local Ray cluster, real tar shards, a tiny real VLM.

The profile has one row per decoder layer, the chosen layers are the best by mean AUROC, a
layer whose attention the evidence boxes were planted on wins with AUROC 1, bad samples are
excluded with their reason, and the per-layer AUROC agrees with the one recomputed from the
``scores.npy`` that ``augment`` writes for the same samples and layer.
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import webdataset as wds
from click.testing import CliRunner
from PIL import Image
from progress_bars import RecordingBar, record_bars
from synthetic_images import encoded, noise_image

from vea_augment.attribution.attributor import Attributor
from vea_augment.attribution.layer_choice import resolve_layers
from vea_augment.cli import cli
from vea_augment.errors import ConfigError
from vea_augment.jobs.augment import AugmentJob, run_augment_job
from vea_augment.jobs.profile import ProfileJob, run_profile_job
from vea_augment.method.layer_profile import flat_scores, view_labels
from vea_augment.method.ranking_metrics import auroc
from vea_augment.models.published_layers import (
    PROFILE_DIR,
    PUBLISHED_LAYERS,
    profile_file_name,
    published_profile,
)
from vea_augment.options import ModelOptions
from vea_augment.schemas.profile import LayerProfile
from vea_augment.steps.augment import AugmentSettings

PLANTED_LAYER = 2
QUESTION = "What is written in the box?"


@pytest.fixture(scope="module")
def attributor(model_dir) -> Attributor:
    return Attributor.from_pretrained(model_dir, [0], ModelOptions(dtype="float32"))


def planted_boxes(attributor: Attributor, image: Image.Image, top: int = 3) -> list[list[float]]:
    """The boxes of the ``top`` tokens the planted layer attends to most (AUROC 1 there)."""
    views = attributor.attribute(image, QUESTION, [PLANTED_LAYER]).layer_views[PLANTED_LAYER]
    boxes = np.concatenate([view.boxes.reshape(-1, 4) for view in views])
    order = np.argsort(-flat_scores(views), kind="stable")[:top]
    return boxes[order].tolist()


@pytest.fixture(scope="module")
def profiling_input(tmp_path_factory, attributor) -> str:
    """Five samples with planted boxes and five that profiling must exclude."""
    root = tmp_path_factory.mktemp("profile-input")
    samples = []
    for index in range(5):
        image = noise_image(56 + 8 * index, 48, index)
        record = {
            "id": f"good{index}",
            "question": QUESTION,
            "answers": ["open"],
            "evidence_boxes": planted_boxes(attributor, image),
        }
        samples.append({"__key__": f"good{index}", "json": record, "png": encoded(image)})
    bad = {
        "noboxes": ({"evidence_boxes": []}, encoded(noise_image(40, 40, 9))),
        "corrupt": ({"evidence_boxes": [[0, 0, 5, 5]]}, b"not an image"),
        "outside": ({"evidence_boxes": [[500, 500, 600, 600]]}, encoded(noise_image(40, 40, 8))),
        "everything": ({"evidence_boxes": [[0, 0, 40, 40]]}, encoded(noise_image(40, 40, 7))),
    }
    for key, (extra, image_bytes) in bad.items():
        record = {"id": key, "question": QUESTION, "answers": ["x"], **extra}
        samples.append({"__key__": key, "json": record, "png": image_bytes})
    # nested 200k deep: once a RecursionError that killed the whole profile
    deep = b'{"id": "deep", "question": "q", "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    samples.append({"__key__": "deep", "json": deep, "png": encoded(noise_image(40, 40, 6))})
    for shard, chunk in enumerate((samples[:5], samples[5:])):
        with wds.TarWriter(str(root / f"p-{shard:05d}.tar")) as sink:
            for sample in chunk:
                sink.write(sample)
    return str(root / "p-{00000..00001}.tar")


@pytest.fixture(scope="module")
def profile(profiling_input, model_dir, local_ray, tmp_path_factory) -> LayerProfile:
    output = tmp_path_factory.mktemp("profile") / "profile.json"
    job = ProfileJob(
        model=str(model_dir),
        loading=ModelOptions(dtype="float32", device="cpu"),
        input=profiling_input,
        output=output,
        top_frac=0.25,
        batch_size=3,
    )
    with pytest.MonkeyPatch.context() as patch:
        bars = record_bars(patch)
        result = run_profile_job(job, show_progress=True)
    PROFILE_BARS[:] = bars
    assert LayerProfile.model_validate_json(output.read_text()) == result
    return result


PROFILE_BARS: list[RecordingBar] = []


def test_the_profile_bar_counts_every_profiled_sample_once(profile):
    (bar,) = PROFILE_BARS
    assert bar.unit == "sample" and bar.total is not None and bar.total >= 5
    assert bar.n == bar.total and max(bar.seen) == bar.total
    done, chunks = bar.postfix["shards"].split("/")
    assert done == chunks and bar.postfix["failed"] == 0


def test_the_profile_has_one_row_per_layer_and_chooses_the_planted_layer(profile):
    assert [row.layer for row in profile.layers] == [0, 1, 2, 3]
    assert profile.num_layers == 4 and profile.sample_count == 5
    planted = profile.layers[PLANTED_LAYER]
    assert planted.auroc_mean == 1.0 and planted.auroc_std == 0.0 and planted.n_samples == 5
    assert profile.chosen_layers == [PLANTED_LAYER]  # ceil(0.25 x 4) = 1 layer
    others = [row.auroc_mean for row in profile.layers if row.layer != PLANTED_LAYER]
    assert max(others) < 1.0
    assert all(0.0 < row.ndcg_mean <= 1.0 for row in profile.layers)
    assert profile.layers[PLANTED_LAYER].ndcg_mean == pytest.approx(1.0)


def test_unusable_samples_are_excluded_with_their_reason(profile):
    reasons = {item.id: item.reason for item in profile.excluded}
    assert set(reasons) == {"noboxes", "corrupt", "outside", "everything", "deep"}
    assert reasons["deep"] == "read: .json record: json nested deeper than 64 levels"
    assert reasons["noboxes"] == "no evidence boxes"
    assert reasons["corrupt"].startswith("decode: ")
    assert reasons["outside"] == "the evidence boxes cover no image token"
    assert reasons["everything"].startswith("the evidence boxes cover every image token")


def test_profile_and_augment_agree_on_each_layers_auroc(
    profile, profiling_input, model_dir, attributor, tmp_path
):
    """The profile's mean AUROC is the one recomputed from augment's ``scores.npy``.

    ``scores.npy`` is float16 (the sidecar contract), which can tie tokens the float64 scores
    order: each tied evidence/non-evidence pair moves AUROC by at most half a pair, so the two
    must agree within that bound, and exactly with the unrounded scores of the same layer.
    """
    for layer in (0, PLANTED_LAYER):
        output = tmp_path / f"augmented-{layer}"
        run_augment_job(
            AugmentJob(
                input=profiling_input,
                output=output,
                model=str(model_dir),
                layers=(layer,),
                loading=ModelOptions(dtype="float32", device="cpu"),
                settings=AugmentSettings(batch_size=3, keep_original=True),
            ),
            show_progress=False,
        )
        from_sidecar, exact, tie_bound = [], [], []
        for sample in wds.WebDataset(str(output / "shard-00000.tar"), shardshuffle=False):
            record = json.loads(sample["json"])
            stored = np.load(io.BytesIO(sample["scores.npy"])).ravel()
            original = Image.open(io.BytesIO(sample["orig.png"]))
            views = attributor.attribute(original, record["question"], [layer]).token_views
            labels = view_labels(views, record["evidence_boxes"])
            unrounded = flat_scores(views)
            assert np.array_equal(stored, unrounded.astype(np.float16))
            from_sidecar.append(auroc(stored.astype(np.float64), labels))
            exact.append(auroc(unrounded, labels))
            ties = stored[labels][:, None] == stored[~labels][None, :]
            tie_bound.append(0.5 * ties.mean())
        assert len(from_sidecar) == 5
        mean = profile.layers[layer].auroc_mean
        assert mean == pytest.approx(np.mean(exact), abs=1e-12)
        assert abs(mean - np.mean(from_sidecar)) <= np.mean(tie_bound) + 1e-12


def test_a_profiling_set_without_usable_samples_is_an_error_that_says_so(
    model_dir, local_ray, tmp_path
):
    with wds.TarWriter(str(tmp_path / "none.tar")) as sink:
        record = {"id": "a", "question": QUESTION, "answers": ["x"]}
        sink.write({"__key__": "a", "json": record, "png": encoded(noise_image(30, 30, 1))})
    job = ProfileJob(
        model=str(model_dir),
        loading=ModelOptions(dtype="float32", device="cpu"),
        input=str(tmp_path / "none.tar"),
        output=tmp_path / "profile.json",
    )
    with pytest.raises(ConfigError, match=r"no usable profiling sample: 1 excluded \(1x no evid"):
        run_profile_job(job, show_progress=False)
    assert not (tmp_path / "profile.json").exists()


def test_the_cli_profiles_and_augment_accepts_the_file(profiling_input, model_dir, tmp_path):
    output = tmp_path / "p.json"
    result = CliRunner().invoke(
        cli,
        [
            "profile", "--model", str(model_dir), "--input", profiling_input, "--output",
            str(output), "--top-frac", "0.5", "--per-head", "--dtype", "float32",
            "--device", "cpu", "--no-progress",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "5 samples profiled, 5 excluded; L = 4" in result.output
    written = LayerProfile.model_validate_json(output.read_text())
    assert len(written.chosen_layers) == 2 and PLANTED_LAYER in written.chosen_layers
    assert len(written.heads) == 4 * 4
    planted_heads = [h.auroc_mean for h in written.heads if h.layer == PLANTED_LAYER]
    assert max(planted_heads) > 0.5 and all(h.n_samples == 5 for h in written.heads)
    assert f"{PLANTED_LAYER:>5}  1.000 (0.000)" in result.output
    layers, source = resolve_layers(str(model_dir), profile=str(output))
    assert layers == tuple(written.chosen_layers) and source == f"profile {output}"


def test_profiles_ship_for_every_checkpoint_with_published_layers():
    for entry in PUBLISHED_LAYERS.values():
        path = PROFILE_DIR / profile_file_name(entry.model_id)
        shipped = LayerProfile.model_validate_json(path.read_text())
        assert shipped == published_profile(entry)
        assert len(shipped.chosen_layers) == math.ceil(0.1 * entry.num_layers)
        layers, source = resolve_layers("any-model", profile=entry.model_id)
        assert layers == entry.layers and source == f"published profile {path.name}"
