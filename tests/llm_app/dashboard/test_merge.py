"""The merge of processes' snapshots: percentiles over pooled samples, rates, sums."""

from __future__ import annotations

from llm_app.dashboard.merge import merge
from llm_app.dashboard.tracker import Tracker
from longrun.loadgen.figures import percentile
from tests.llm_app.dashboard.trackers import finish


def test_latency_percentiles_use_the_nearest_rank_of_complete_calls(tracker):
    for call_id in range(1, 101):
        tracker.call_started(call_id, path="sync", interface="wsgi", model="m")
        finish(tracker, call_id, ttft_ms=float(call_id), duration_ms=float(call_id * 10))
    tracker.call_started(500, path="sync", interface="wsgi", model="m")
    finish(tracker, 500, status="error", ttft_ms=None, duration_ms=99999.0)
    figures = merge([tracker.snapshot()])
    assert figures["ttft_ms"] == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert figures["latency_ms"] == {"p50": 500.0, "p95": 950.0, "p99": 990.0}


def test_error_and_cancellation_rates_are_shares_of_the_finished_calls(tracker):
    statuses = ["complete"] * 6 + ["error"] * 3 + ["cancelled"]
    for call_id, status in enumerate(statuses):
        tracker.call_started(call_id, path="websocket", interface="asgi", model="m")
        finish(tracker, call_id, status=status)
    figures = merge([tracker.snapshot()])
    assert (figures["finished"], figures["error_rate"], figures["cancel_rate"]) == (10, 0.3, 0.1)


def test_the_merge_adds_every_process_and_pools_their_samples(tracker, clock):
    other = Tracker(window_s=60.0, clock=clock)
    tracker.call_started(1, path="sync", interface="wsgi", model="m")
    finish(tracker, 1, duration_ms=100.0)
    other.call_started(1, path="async", interface="asgi", model="m")
    finish(other, 1, duration_ms=300.0)
    other.call_started(2, path="async", interface="asgi", model="m")
    first, second = tracker.snapshot(threads=5, db_connections=1), other.snapshot(threads=7, db_connections=2)
    second["pid"] = first["pid"] + 1
    figures = merge([first, second])
    assert figures["in_flight"]["async"] == 1
    assert figures["finished"] == 2
    assert figures["latency_ms"]["p99"] == 300.0
    assert (figures["threads"], figures["db_connections"], len(figures["processes"])) == (12, 3, 2)


def test_percentile_of_nothing_is_none():
    assert percentile([], 50) is None


def test_rejections_add_up_over_processes_as_a_share_of_the_calls_asked_for(clock):
    first, second = Tracker(window_s=60.0, clock=clock), Tracker(window_s=60.0, clock=clock)
    first.call_started(1, path="async", interface="asgi", model="m")
    finish(first, 1)
    first.call_rejected(path="async")
    second.call_rejected(path="sync")
    figures = merge([first.snapshot(), second.snapshot()])
    assert (figures["finished"], figures["rejected"], figures["reject_rate"]) == (1, 2, round(2 / 3, 4))
