"""The unit counting behind the progress bar, without Ray: reports per (item, attempt), a
retried item never counts twice, late reports of an ended attempt are ignored."""

from __future__ import annotations

from vea_augment.distributed.pool import estimated_total
from vea_augment.distributed.progress import UnitTracker, apply_reports


def test_running_items_count_what_their_current_attempt_reported():
    tracker = UnitTracker()
    tracker.start("a", 1)
    tracker.start("b", 1)
    apply_reports(tracker, [("a", 1, 4), ("b", 1, 3), ("a", 1, 4)])
    assert tracker.done == 11
    tracker.finish("a", 1, 10)  # the shard's own statistics are the final word
    assert tracker.done == 13
    tracker.finish("b", 1)  # no final count given: what the attempt reported
    assert tracker.done == 13


def test_a_failed_attempt_is_subtracted_and_its_late_reports_ignored():
    tracker = UnitTracker()
    tracker.start("a", 1)
    tracker.report("a", 1, 5)
    tracker.abandon("a", 1)
    assert tracker.done == 0
    tracker.report("a", 1, 5)  # still in flight when the actor died
    assert tracker.done == 0
    tracker.start("a", 2)
    tracker.report("a", 1, 2)  # a stale report arriving after the retry began
    tracker.report("a", 2, 3)
    assert tracker.done == 3
    tracker.finish("a", 2, 8)
    tracker.report("a", 2, 5)  # late report of the finished attempt
    assert tracker.done == 8


def test_a_stale_abandon_does_not_drop_the_current_attempt():
    tracker = UnitTracker()
    tracker.start("a", 2)
    tracker.report("a", 2, 4)
    tracker.abandon("a", 1)
    assert tracker.done == 4


def test_an_item_committed_despite_its_actor_failing_counts_its_statistics():
    tracker = UnitTracker()
    tracker.start("a", 1)
    tracker.report("a", 1, 2)
    tracker.finish("a", 1, 6)
    tracker.start("b", 1)
    tracker.abandon("b", 1)
    assert tracker.done == 6


def test_the_count_never_exceeds_the_items_sizes_during_a_retry():
    sizes = {"a": 6, "b": 4}
    tracker = UnitTracker()
    seen = []
    for key in sizes:
        tracker.start(key, 1)
    for event in [("a", 1, 3), ("b", 1, 4), ("a", 1, 3)]:
        tracker.report(*event)
        seen.append(tracker.done)
    tracker.finish("b", 1, 4)
    tracker.abandon("a", 1)
    seen.append(tracker.done)
    tracker.start("a", 2)
    for n in (3, 3):
        tracker.report("a", 2, n)
        seen.append(tracker.done)
    tracker.finish("a", 2, 6)
    assert max(seen) <= sum(sizes.values()) and tracker.done == 10
    assert seen == [3, 7, 10, 4, 7, 10]


def test_the_bar_total_is_exact_for_known_sizes_and_estimated_from_finished_tars():
    assert estimated_total([3, 4, 5], {}) == 12
    assert estimated_total([3, None, None], {}) is None  # no ETA before a tar has ended
    assert estimated_total([3, None, None, None], {1: 10}) == 3 + 10 + 20
    assert estimated_total([3, None, None, None], {1: 10, 3: 6}) == 3 + 16 + 8
    assert estimated_total([None, None], {0: 7, 1: 2}) == 9  # every tar ended: exact
