"""``profile`` chooses the mask post-processing; ``augment --preset`` applies it (issue 17).

Planted token grids where the answer is known (a lone hot token that lambda = 10 erases, a
cluster a quarter in from the border that the mirror blur pulls to the edge), the tie rule,
profile.json with the new field, and the tiny real VLM end to end: the grid's AUROC is the
one of the masks augment makes at the chosen layers, and augment takes the profile's values
unless told otherwise.
"""

from __future__ import annotations

import io
import json
from typing import get_args

import numpy as np
import pytest
import webdataset as wds
from click.testing import CliRunner
from PIL import Image
from synthetic_images import encoded, noise_image

from vea_augment.attribution.attributor import Attributor
from vea_augment.cli import cli
from vea_augment.method.mask_quality import mask_auroc
from vea_augment.method.types import BOUNDARY_MODES, MaskConfig, TokenView
from vea_augment.options import ModelOptions
from vea_augment.schemas.profile import (
    BlurBoundary,
    LayerProfile,
    LayerScore,
    PostProcessingScore,
    PostProcessingSetting,
)
from vea_augment.steps.postprocessing import (
    SampleViews,
    changes_from_paper,
    choose,
    grid_configs,
    postprocessing_choice,
)

WIDTH, HEIGHT, COLS, ROWS, TOKEN = 320, 240, 16, 12, 20
QUESTION = "What is written in the box?"


def planted(hot: list[tuple[int, int]], seed: int) -> SampleViews:
    """A 16x12 grid of 20-px tokens with background scores in [0.5, 1), the ``hot`` tokens
    at 30, and one evidence box around them."""
    scores = np.random.default_rng(seed).uniform(0.5, 1.0, (ROWS, COLS))
    boxes = np.zeros((ROWS, COLS, 4))
    for row in range(ROWS):
        for col in range(COLS):
            boxes[row, col] = [col * TOKEN, row * TOKEN, (col + 1) * TOKEN, (row + 1) * TOKEN]
    for row, col in hot:
        scores[row, col] = 30.0
    rows, cols = [r for r, _ in hot], [c for _, c in hot]
    box = [min(cols) * TOKEN, min(rows) * TOKEN, (max(cols) + 1) * TOKEN, (max(rows) + 1) * TOKEN]
    view = TokenView("grid", scores, boxes, (WIDTH, HEIGHT))
    return SampleViews(f"s{seed}", [box], (WIDTH, HEIGHT), {0: [view]})


def setting(choice) -> tuple[float, float, bool, str]:
    chosen = choice.chosen
    return (chosen.sigma, chosen.lam, chosen.denoise, chosen.boundary)


def test_a_lone_hot_token_makes_denoise_off_win_at_the_smallest_sigma():
    # Eq. 2 replaces a token above 10x its neighbours' max: the evidence itself. Denoise off
    # alone (one change) keeps the mirrored blur's drift (AUROC 0.89); every point within
    # epsilon of the best changes two knobs, and of those the highest AUROC wins.
    choice = postprocessing_choice([planted([(6, 8)], seed) for seed in (1, 2)], [0])
    by_point = {(r.sigma, r.denoise, r.boundary): r.auroc_mean for r in choice.grid}
    assert by_point[(0.5, True, "reflect")] < 0.5  # the paper's values lose the evidence
    assert setting(choice) == (0.05, 10.0, False, "reflect")
    assert len(choice.grid) == 24 and all(row.n_samples == 2 for row in choice.grid)
    assert by_point[(0.5, False, "reflect")] == pytest.approx(0.891, abs=0.001)
    assert choice.grid[0].auroc_mean == pytest.approx(0.99990, abs=1e-5)
    assert choice.metric == "pixel AUROC"


def test_a_cluster_near_the_border_makes_zero_padding_win_at_the_paper_s_sigma():
    # A 2x2 cluster a quarter in: the mirror at sigma 0.5 moves its peak to the left edge,
    # zero padding keeps it on the cluster. The cluster survives Eq. 2 (its tokens are each
    # other's neighbours), so lambda 10 and off tie and the paper's lambda stays.
    cluster = [(5, 3), (5, 4), (6, 3), (6, 4)]
    configs = grid_configs(sigmas=(0.5,))
    choice = postprocessing_choice([planted(cluster, 1)], [0], configs)
    scores = {(r.denoise, r.boundary): r.auroc_mean for r in choice.grid}
    assert scores[(True, "reflect")] < 0.8 < 0.95 < scores[(True, "constant")]
    assert scores[(True, "constant")] == scores[(False, "constant")]
    assert setting(choice) == (0.5, 10.0, True, "constant")


def score(sigma=0.5, denoise=True, boundary="reflect", auroc=0.9) -> PostProcessingScore:
    return PostProcessingScore(
        sigma=sigma, lam=10.0, denoise=denoise, boundary=boundary, auroc_mean=auroc, n_samples=3
    )


def test_the_tie_rule_prefers_the_paper_then_fewer_changes_then_higher_auroc():
    paper = score(auroc=0.900)
    one_change = score(sigma=0.1, auroc=0.9049)
    two_changes = score(sigma=0.1, boundary="constant", auroc=0.9050)
    assert choose([two_changes, one_change, paper], epsilon=0.005) is paper
    assert choose([two_changes, one_change, paper], epsilon=0.004) is one_change
    beyond = score(sigma=0.05, denoise=False, boundary="normalized", auroc=0.9101)
    assert choose([paper, one_change, beyond], epsilon=0.005) is beyond
    close = score(sigma=0.25, auroc=0.9040)
    assert choose([close, one_change], epsilon=0.01) is one_change  # same changes: higher
    same = score(sigma=0.25, auroc=0.9049)
    assert choose([same, one_change], epsilon=0.01) is same  # all equal: grid order
    unmeasured = [score(auroc=None), score(sigma=0.1, auroc=None)]
    assert choose(unmeasured) is unmeasured[0]
    assert [changes_from_paper(s) for s in (paper, one_change, two_changes, beyond)] == [0, 1, 2, 3]


def test_the_grid_is_the_options_grid_with_the_paper_s_values_first():
    configs = grid_configs()
    assert len(configs) == 4 * 2 * 3
    assert configs[0] == MaskConfig()
    assert {c.sigma for c in configs} == {0.5, 0.25, 0.1, 0.05}
    assert {(c.lam, c.denoise) for c in configs} == {(10.0, True), (10.0, False)}
    assert get_args(BlurBoundary) == BOUNDARY_MODES


def test_profile_json_round_trips_the_choice_and_old_profiles_still_read():
    choice = postprocessing_choice([planted([(6, 8)], 1)], [0], grid_configs(sigmas=(0.1,)))
    profile = LayerProfile(
        model_id="m",
        num_layers=1,
        top_frac=1.0,
        chosen_layers=[0],
        sample_count=1,
        layers=[LayerScore(layer=0, auroc_mean=1.0, n_samples=1)],
        postprocessing=choice,
    )
    again = LayerProfile.model_validate_json(profile.model_dump_json())
    assert again == profile and again.postprocessing.chosen == choice.chosen
    written = json.loads(profile.model_dump_json())["postprocessing"]
    assert written["chosen"] == {"sigma": 0.1, "lam": 10.0, "denoise": False, "boundary": "reflect"}
    assert set(written["grid"][0]) == {
        "sigma", "lam", "denoise", "boundary", "auroc_mean", "n_samples",
    }  # fmt: skip
    old = json.loads(profile.model_dump_json())
    del old["postprocessing"]
    assert LayerProfile.model_validate(old).postprocessing is None


@pytest.fixture(scope="module")
def boxed_input(tmp_path_factory) -> str:
    """Four noise images with one evidence box each, in one tar shard."""
    path = tmp_path_factory.mktemp("grid-input") / "boxed-00000.tar"
    with wds.TarWriter(str(path)) as sink:
        for index in range(4):
            record = {
                "id": f"b{index}",
                "question": QUESTION,
                "answers": ["open"],
                "evidence_boxes": [[4 + 8 * index, 4, 28 + 8 * index, 20]],
            }
            image = encoded(noise_image(64, 48, index))
            sink.write({"__key__": f"b{index}", "json": record, "png": image})
    return str(path)


@pytest.fixture(scope="module")
def profiled(boxed_input, model_dir, local_ray, tmp_path_factory):
    output = tmp_path_factory.mktemp("grid-profile") / "profile.json"
    result = CliRunner().invoke(
        cli,
        [
            "profile", "--model", str(model_dir), "--input", boxed_input, "--output",
            str(output), "--top-frac", "0.5", "--dtype", "float32", "--device", "cpu",
            "--no-progress",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return LayerProfile.model_validate_json(output.read_text()), result.output, output


def test_profile_writes_the_grid_scored_on_the_masks_augment_makes(
    profiled, model_dir, boxed_input
):
    profile, printed, _ = profiled
    choice = profile.postprocessing
    assert choice is not None and choice.layers == profile.chosen_layers
    assert len(choice.grid) == 24 and choice.skipped == []
    assert all(row.n_samples == 4 for row in choice.grid)
    means = [row.auroc_mean for row in choice.grid]
    assert means == sorted(means, reverse=True)
    assert setting(choice) == tuple(
        getattr(choose(choice.grid, choice.tie_epsilon), knob)
        for knob in ("sigma", "lam", "denoise", "boundary")
    )
    # The grid's number for a point is the mean AUROC of the mask the Attributor makes at
    # the chosen layers with that point's values: what augment writes.
    attributor = Attributor.from_pretrained(
        model_dir, profile.chosen_layers, ModelOptions(dtype="float32")
    )
    point = choice.grid[-1]
    config = MaskConfig(
        sigma=point.sigma, lam=point.lam, denoise=point.denoise, boundary=point.boundary
    )
    samples = list(wds.WebDataset(boxed_input, shardshuffle=False))
    images = [Image.open(io.BytesIO(sample["png"])) for sample in samples]
    # One batch of four, as the profile ran them (left padding moves float32 rounding).
    attributions = attributor.attribute_batch(images, [QUESTION] * len(images))
    recomputed = [
        mask_auroc(result.mask(config), json.loads(sample["json"])["evidence_boxes"])
        for sample, result in zip(samples, attributions, strict=True)
    ]
    assert point.auroc_mean == pytest.approx(np.mean(recomputed), abs=1e-12)
    assert "post-processing grid (mean pixel AUROC" in printed
    assert "<- chosen" in printed.split("post-processing grid")[1]
    assert "chosen post-processing: sigma " in printed


def augment(model_dir, boxed_input, output, *extra: str):
    result = CliRunner().invoke(
        cli,
        [
            "augment", "--model", str(model_dir), "--input", boxed_input, "--output",
            str(output), "--dtype", "float32", "--device", "cpu", "--no-progress", *extra,
        ],
    )  # fmt: skip
    return result


def sidecar_and_sources(output) -> tuple[dict, dict]:
    (sample, *_) = wds.WebDataset(str(output / "shard-00000.tar"), shardshuffle=False)
    vea = json.loads(sample["json"])["vea"]
    manifest = json.loads((output / "_manifest.json").read_text())
    return (
        {knob: vea[knob] for knob in ("sigma", "lam", "denoise", "boundary")},
        manifest["config"]["settings"]["mask_sources"],
    )


def test_augment_applies_the_profile_s_choice_and_preset_paper_overrides_it(
    profiled, model_dir, boxed_input, tmp_path
):
    profile, _, _ = profiled
    measured = profile.postprocessing.model_copy(
        update={
            "chosen": PostProcessingSetting(sigma=0.1, lam=10.0, denoise=False, boundary="constant")
        }
    )
    path = tmp_path / "chosen.json"
    path.write_text(profile.model_copy(update={"postprocessing": measured}).model_dump_json())
    source = f"profile {path}"

    result = augment(model_dir, boxed_input, tmp_path / "a", "--profile", str(path))
    assert result.exit_code == 0, result.output
    values, sources = sidecar_and_sources(tmp_path / "a")
    assert values == {"sigma": 0.1, "lam": 10.0, "denoise": False, "boundary": "constant"}
    assert sources == dict.fromkeys(("sigma", "lam", "denoise", "boundary"), source)
    assert f"sigma 0.1 ({source})" in result.output

    result = augment(
        model_dir, boxed_input, tmp_path / "b", "--profile", str(path), "--preset", "paper"
    )
    assert result.exit_code == 0, result.output
    values, sources = sidecar_and_sources(tmp_path / "b")
    assert values == {"sigma": 0.5, "lam": 10.0, "denoise": True, "boundary": "reflect"}
    assert set(sources.values()) == {"paper (--preset paper)"}


def test_an_explicit_option_wins_over_the_profile_and_each_value_names_its_origin(
    profiled, tmp_path
):
    from vea_augment.attribution.mask_choice import resolve_mask
    from vea_augment.cli.augment import augment_command, mask_config
    from vea_augment.cli.mask_preset import explicit_knobs

    profile, _, path = profiled
    base = ["--model", "m", "--input", "x.tar", "--output", str(tmp_path), "--profile", str(path)]
    context = augment_command.make_context("augment", [*base, "--sigma", "0.25", "--no-denoise"])
    explicit = explicit_knobs(context)
    assert explicit == {"sigma", "denoise"}
    mask, sources = resolve_mask(mask_config(context.params), explicit, None, str(path))
    chosen = profile.postprocessing.chosen
    assert (mask.sigma, mask.denoise) == (0.25, False)
    assert (mask.lam, mask.boundary) == (chosen.lam, chosen.boundary)
    assert sources == {
        "sigma": "--sigma",
        "lam": f"profile {path}",
        "denoise": "--no-denoise",
        "boundary": f"profile {path}",
    }
    plain = augment_command.make_context("augment", base[:6])
    mask, sources = resolve_mask(mask_config(plain.params), set(), None, None)
    assert mask == MaskConfig() and set(sources.values()) == {"paper (default)"}


def test_preset_profile_without_a_measured_choice_is_an_error(model_dir, boxed_input, tmp_path):
    result = augment(model_dir, boxed_input, tmp_path / "x", "--layers", "1", "--preset", "profile")
    assert result.exit_code == 1
    assert "--preset profile needs a --profile holding a post-processing choice" in result.output
    assert not (tmp_path / "x").exists()
