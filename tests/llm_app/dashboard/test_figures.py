"""History figures from stored LLMCall rows: buckets, per path and model, percentiles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from llm_app.dashboard.figures import history
from llm_app.models import Conversation, LLMCall, Message

pytestmark = pytest.mark.django_db


def add_call(
    *,
    minutes_ago: float,
    path: str = "async",
    model: str = "m",
    status: str = "complete",
    duration_ms: float = 1000.0,
    ttft_ms: float | None = 100.0,
    tokens: int = 10,
    streamed: bool = True,
) -> LLMCall:
    conversation = Conversation.objects.create(title="t")
    message = Message.objects.create(conversation=conversation, role="assistant", content="x", status=status)
    return LLMCall.objects.create(
        conversation=conversation,
        message=message,
        path=path,
        interface="asgi",
        model=model,
        started_at=timezone.now() - timedelta(minutes=minutes_ago),
        ttft_ms=ttft_ms,
        streamed=streamed,
        duration_ms=duration_ms,
        tokens=tokens,
        status=status,
    )


def test_the_last_hour_has_twelve_five_minute_buckets_holding_its_calls():
    add_call(minutes_ago=1)
    add_call(minutes_ago=2)
    add_call(minutes_ago=30)
    add_call(minutes_ago=90)
    past = history("hour")
    assert len(past.buckets) == 12
    assert sum(b.calls for b in past.buckets) == 3
    assert past.buckets[-1].calls == 2


def test_the_last_day_counts_calls_older_than_an_hour():
    add_call(minutes_ago=90)
    add_call(minutes_ago=60 * 30)
    past = history("day")
    assert (len(past.buckets), sum(b.calls for b in past.buckets)) == (24, 1)


def test_groups_are_per_path_and_model_with_their_percentiles_and_errors():
    for duration in (100.0, 200.0, 300.0, 400.0):
        add_call(minutes_ago=1, path="sync", model="a", duration_ms=duration, tokens=5)
    add_call(minutes_ago=1, path="sync", model="a", status="error", duration_ms=5.0, ttft_ms=None, tokens=0)
    add_call(minutes_ago=1, path="websocket", model="b")
    groups = {(g.path, g.model): g for g in history("hour").groups}
    sync = groups[("sync", "a")]
    assert (sync.calls, sync.errors, sync.tokens) == (5, 1, 20)
    assert (sync.latency_p50, sync.latency_p99) == (200.0, 400.0)
    assert groups[("websocket", "b")].calls == 1


def test_calls_still_streaming_are_left_out_of_the_history():
    add_call(minutes_ago=1, status="streaming", duration_ms=0.0, ttft_ms=None)
    assert history("hour").groups == []


def test_a_call_turned_away_by_the_in_flight_cap_is_not_counted_as_a_call():
    add_call(minutes_ago=1)
    LLMCall.objects.create(
        path="async", interface="asgi", model="m", started_at=timezone.now(), duration_ms=200.0, status="rejected"
    )
    past = history("hour")
    assert sum(b.calls for b in past.buckets) == 1
    assert [g.calls for g in past.groups] == [1]


def test_first_token_figures_count_streamed_calls_only():
    add_call(minutes_ago=1, ttft_ms=120.0, duration_ms=2000.0)
    add_call(minutes_ago=1, ttft_ms=2000.0, duration_ms=2000.0, streamed=False)
    (group,) = history("hour").groups
    assert (group.calls, group.ttft_p99, group.latency_p99) == (2, 120.0, 2000.0)
