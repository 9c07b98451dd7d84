"""Mask quality as a number (issue 17): the pixel AUROC/NDCG of a mask against its evidence
boxes, the denoise flag, and their sums per shard and per job, through a real augment job."""

from __future__ import annotations

import json
import math
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import webdataset as wds
from method_helpers import grid_boxes
from synthetic_images import encoded, noise_image
from tiny_jobs import tiny_augment_job

from vea_augment.jobs.augment import run_augment_job
from vea_augment.method import MaskConfig, TokenView, mask_auroc, mask_auroc_ndcg
from vea_augment.schemas.sidecar import VEASidecar
from vea_augment.schemas.stats import MaskQualityStats, ShardStats
from vea_augment.steps.augment import AugmentSettings
from vea_augment.steps.mask_scores import (
    MaskScoreTally,
    mask_quality_lines,
    sample_mask_fields,
    strongest_token_replaced,
)


def test_a_mask_that_is_the_box_scores_one_and_its_inverse_zero() -> None:
    mask = np.zeros((40, 60))
    mask[10:20, 30:50] = 1.0
    assert mask_auroc_ndcg(mask, [[30, 10, 50, 20]]) == (1.0, 1.0)
    auroc, ndcg = mask_auroc_ndcg(1.0 - mask, [[30, 10, 50, 20]])
    assert auroc == 0.0 and 0.0 < ndcg < 1.0


def test_auroc_and_ndcg_of_four_cells_by_hand() -> None:
    # One cell per pixel (2x2 <= 256 cells); the evidence cell (1, 0) ranks second of four.
    mask = np.array([[0.9, 0.1], [0.5, 0.3]])
    auroc, ndcg = mask_auroc_ndcg(mask, [[0, 1, 1, 2]])
    assert auroc == pytest.approx(2 / 3, rel=1e-12)  # above 0.1 and 0.3, below 0.9
    assert ndcg == pytest.approx(1 / math.log2(3), rel=1e-12)  # gain 1 at rank 2, ideal 1
    assert mask_auroc(mask, [[0, 1, 1, 2]]) == auroc


def test_boxes_over_everything_leave_nothing_to_rank() -> None:
    auroc, ndcg = mask_auroc_ndcg(np.ones((8, 8)), [[0, 0, 8, 8]])
    assert math.isnan(auroc) and math.isnan(ndcg)


def planted_view(hot: list[tuple[int, int]], rows: int = 6, cols: int = 9) -> TokenView:
    scores = np.full((rows, cols), 0.01)
    for row, col in hot:
        scores[row, col] = 1.0
    return TokenView("planted", scores, grid_boxes(90, 60, rows, cols))


def test_a_lone_hot_token_is_the_strongest_and_the_paper_s_denoise_replaces_it() -> None:
    assert strongest_token_replaced([planted_view([(2, 4)])], MaskConfig()) is True
    assert strongest_token_replaced([planted_view([(2, 4)])], MaskConfig(lam=200.0)) is False
    assert strongest_token_replaced([planted_view([(2, 4)])], MaskConfig(denoise=False)) is False


def test_a_two_by_two_cluster_survives_denoise() -> None:
    cluster = planted_view([(2, 4), (2, 5), (3, 4), (3, 5)])
    assert strongest_token_replaced([cluster], MaskConfig()) is False


def test_the_strongest_token_of_all_views_is_the_one_that_counts() -> None:
    # The lone spike in the second view holds the top score; the first view's cluster does not.
    weak_cluster = TokenView(
        "a", planted_view([(1, 1), (1, 2)]).scores * 0.5, planted_view([]).boxes
    )
    assert strongest_token_replaced([weak_cluster, planted_view([(4, 7)])], MaskConfig()) is True
    assert strongest_token_replaced([weak_cluster, planted_view([])], MaskConfig()) is False


def test_sample_fields_score_the_mask_when_boxes_exist() -> None:
    view = planted_view([(2, 4)])
    mask = np.zeros((60, 90))
    mask[20:30, 40:50] = 1.0
    fields = sample_mask_fields([view], mask, [(40.0, 20.0, 50.0, 30.0)], MaskConfig())
    assert fields["mask_quality"].auroc == 1.0 and fields["mask_quality"].ndcg == 1.0
    assert fields["strongest_token_replaced"] is True
    assert sample_mask_fields([view], mask, None, MaskConfig())["mask_quality"] is None
    whole = [(0.0, 0.0, 90.0, 60.0)]
    assert sample_mask_fields([view], mask, whole, MaskConfig())["mask_quality"] is None


def test_the_tally_averages_scored_samples_and_weights_shards_by_their_counts() -> None:
    shard_a, shard_b = MaskScoreTally(), MaskScoreTally()
    shard_a.add_sample(
        {"mask_quality": {"auroc": 0.5, "ndcg": 0.25}, "strongest_token_replaced": True}
    )
    shard_a.add_sample(
        {"mask_quality": {"auroc": 1.0, "ndcg": 0.75}, "strongest_token_replaced": False}
    )
    shard_a.add_sample({"mask_quality": None, "strongest_token_replaced": True})
    shard_b.add_sample(
        {"mask_quality": {"auroc": 0.25, "ndcg": 0.5}, "strongest_token_replaced": False}
    )
    assert shard_a.stats() == MaskQualityStats(
        samples=3, scored=2, mean_auroc=0.75, mean_ndcg=0.5, strongest_token_replaced=2
    )
    job = MaskScoreTally()
    job.add_stats(shard_a.stats().model_dump(mode="json"))
    job.add_stats(shard_b.stats())
    job.add_stats(None)  # stats written before mask quality existed
    assert job.stats() == MaskQualityStats(
        samples=4, scored=3, mean_auroc=0.5833333333333334, mean_ndcg=0.5,
        strongest_token_replaced=2,
    )  # fmt: skip
    assert mask_quality_lines(job.stats()) == [
        "mask quality: mean pixel AUROC 0.58, NDCG 0.50 over 3 samples with boxes",
        "denoise (Eq. 2) replaced the strongest token in 2 of 4 samples",
    ]


def test_the_summary_says_when_nothing_could_be_scored() -> None:
    unscored = MaskQualityStats(samples=5, scored=0)
    assert mask_quality_lines(unscored)[0] == (
        "mask quality: not measured (none of the 5 ok samples has evidence boxes)"
    )
    assert mask_quality_lines(MaskQualityStats()) == []
    assert mask_quality_lines(None) == []


def write_input(path: Path) -> None:
    """Four samples: three with an evidence box, one without, one that cannot be decoded."""
    with wds.TarWriter(str(path)) as sink:
        for index in range(4):
            record = {"id": f"k{index}", "question": "What is written?", "answers": ["open"]}
            if index < 3:
                record["evidence_boxes"] = [[4 + 8 * index, 6, 30 + 8 * index, 28]]
            image = encoded(noise_image(64, 48, index), "PNG")
            sink.write({"__key__": f"k{index}", "json": json.dumps(record).encode(), "png": image})
        sink.write({"__key__": "broken", "json": b'{"id": "broken", "question": "q"}', "png": b"x"})


def test_an_augment_job_records_mask_quality_per_sample_shard_and_job(
    local_ray, model_dir, tmp_path
) -> None:
    source = tmp_path / "in-00000.tar"
    write_input(source)
    output = tmp_path / "out"
    settings = AugmentSettings(batch_size=2, mask=MaskConfig(sigma=0.1, boundary="constant"))
    job = replace(tiny_augment_job(str(source), output, model_dir), settings=settings)
    summary = run_augment_job(job, show_progress=False)

    with tarfile.open(output / "shard-00000.tar") as archive:
        sidecars = {
            member.name.split(".")[0]: VEASidecar.model_validate(
                json.loads(archive.extractfile(member).read())["vea"]
            )
            for member in archive.getmembers()
            if member.name.endswith(".json")
        }
    ok = {key: s for key, s in sidecars.items() if s.status == "ok"}
    assert set(ok) == {"k0", "k1", "k2", "k3"} and sidecars["broken"].status == "error"
    assert all(s.boundary == "constant" and s.sigma == 0.1 for s in sidecars.values())
    assert ok["k3"].mask_quality is None and sidecars["broken"].mask_quality is None
    scored = [ok[key].mask_quality for key in ("k0", "k1", "k2")]
    assert all(q is not None and 0.0 <= q.auroc <= 1.0 and 0.0 < q.ndcg <= 1.0 for q in scored)

    stats = ShardStats.model_validate_json((output / "_stats/shard-00000.json").read_text())
    expected = MaskQualityStats(
        samples=4,
        scored=3,
        mean_auroc=sum(q.auroc for q in scored) / 3,
        mean_ndcg=sum(q.ndcg for q in scored) / 3,
        strongest_token_replaced=sum(s.strongest_token_replaced for s in ok.values()),
    )
    assert stats.mask_quality is not None
    assert stats.mask_quality.model_dump() == pytest.approx(expected.model_dump())
    assert summary.mask_quality == stats.mask_quality
    assert (
        f"mask quality: mean pixel AUROC {expected.mean_auroc:.2f}, NDCG {expected.mean_ndcg:.2f} "
        "over 3 samples with boxes"
    ) in summary.lines()
