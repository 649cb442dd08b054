"""The publisher sends a snapshot of the process's figures, its threads and database connections included."""

from __future__ import annotations

from llm_app.dashboard.publisher import Publisher
from llm_app.dashboard.tracker import Snapshot, Tracker


def test_the_publisher_sends_a_snapshot_with_the_process_figures():
    tracker = Tracker()
    sent: list[Snapshot] = []
    publisher = Publisher(tracker, send=sent.append)
    tracker.call_started(1, path="command", interface="none", model="m")
    publisher.publish()
    assert sent[0]["in_flight"]["command"] == 1
    assert sent[0]["threads"] >= 1
    assert sent[0]["db_connections"] >= 0
