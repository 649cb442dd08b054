"""A process's live counters: synthetic starts and finishes fed to a Tracker, read through its snapshot."""

from __future__ import annotations

from llm_app.dashboard.merge import merge
from tests.llm_app.dashboard.trackers import finish


def test_started_calls_count_in_flight_per_path_and_interface(tracker):
    tracker.call_started(1, path="sync", interface="wsgi", model="m")
    tracker.call_started(2, path="async", interface="asgi", model="m")
    tracker.call_started(3, path="websocket", interface="asgi", model="m")
    figures = merge([tracker.snapshot()])
    assert figures["in_flight"] == {"total": 3, "sync": 1, "async": 1, "websocket": 1, "command": 0}
    assert figures["in_flight_by_interface"] == {"wsgi": 1, "asgi": 2, "none": 0}


def test_a_finished_call_leaves_the_in_flight_count(tracker):
    tracker.call_started(1, path="async", interface="asgi", model="m")
    finish(tracker, 1)
    assert merge([tracker.snapshot()])["in_flight"]["total"] == 0


def test_requests_and_tokens_per_second_are_taken_over_the_window(tracker):
    for call_id in range(30):
        tracker.call_started(call_id, path="async", interface="asgi", model="m")
        finish(tracker, call_id, tokens=20)
    figures = merge([tracker.snapshot()])
    assert figures["requests_per_s"] == 0.5
    assert figures["tokens_per_s"] == 10.0


def test_cancelled_upstream_calls_are_counted_per_path_beyond_the_window(tracker, clock):
    tracker.call_started(1, path="async", interface="asgi", model="m")
    finish(tracker, 1, status="cancelled")
    clock.now += 3600
    figures = merge([tracker.snapshot()])
    assert figures["cancelled_upstream"]["async"] == 1
    assert figures["cancel_rate"] == 0.0


def test_calls_older_than_the_window_leave_the_rates(tracker, clock):
    tracker.call_started(1, path="sync", interface="wsgi", model="m")
    finish(tracker, 1)
    clock.now += 61
    figures = merge([tracker.snapshot()])
    assert (figures["finished"], figures["requests_per_s"], figures["latency_ms"]["p50"]) == (0, 0.0, None)


def test_a_finish_without_a_counted_start_is_still_a_finished_call(tracker):
    finish(tracker, 42)
    figures = merge([tracker.snapshot()])
    assert (figures["finished"], figures["in_flight"]["total"]) == (1, 0)


def test_the_snapshot_names_the_process_and_its_interface(tracker):
    tracker.call_started(1, path="async", interface="asgi", model="m")
    snapshot = tracker.snapshot()
    assert snapshot["pid"] > 0
    assert snapshot["interface"] == "asgi"


def test_a_rejected_call_counts_in_the_window_without_ever_being_in_flight(tracker, clock):
    tracker.call_rejected(path="async")
    snapshot = tracker.snapshot()
    assert (snapshot["rejected"], snapshot["finished"], sum(snapshot["in_flight"].values())) == (1, 0, 0)
    clock.now += 61
    assert tracker.snapshot()["rejected"] == 0
