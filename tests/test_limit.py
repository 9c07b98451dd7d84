"""--limit on a real local Ray cluster with the tiny VLM: the shard the limit falls in is
written as partial (never with the done marker), and a later full run redoes it."""

from __future__ import annotations

from reader_inputs import hub_layout
from test_input_end_to_end import make_job

from vea_augment.data.readers import first_samples
from vea_augment.data.sources import plan_input
from vea_augment.data.writer import finished_shards
from vea_augment.jobs.augment import run_augment_job
from vea_augment.options import InputOptions


def test_a_limited_run_leaves_no_finished_looking_partial_shard(local_ray, model_dir, tmp_path):
    source = tmp_path / "textvqa"
    expected = hub_layout(source)
    reading = InputOptions(samples_per_shard=3)
    assert [t.limit for t in first_samples(plan_input(str(source), reading), 4)] == [None, 1]
    output = tmp_path / "out"
    limited = run_augment_job(make_job(str(source), output, model_dir, reading=reading, limit=4))
    assert limited.samples == 4 and limited.shards_total == 2
    written = sorted(p.name for p in output.glob("shard-*.tar"))
    assert written == ["shard-00000.tar", "shard-00001.tar"]
    assert finished_shards(output) == {0}, "the cut shard must not look finished"
    assert (output / "_stats" / "shard-00001.partial.json").exists()
    full = run_augment_job(make_job(str(source), output, model_dir, reading=reading), False)
    assert full.shards_skipped == 1 and full.shards_done == 3
    assert full.samples == len(expected) - 3
    assert finished_shards(output) == {0, 1, 2, 3}
    assert not list((output / "_stats").glob("*.partial.json"))
