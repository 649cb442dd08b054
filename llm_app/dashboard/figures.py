"""History figures from stored LLMCall rows: per time bucket and per (path, model), over the last hour or day.

These survive a restart because they are read from the database, unlike the live figures of
``llm_app.dashboard.tracker``. Percentiles are computed in Python from the rows' values, so SQLite and PostgreSQL agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from django.utils import timezone

from llm_app.models import LLMCall, Status
from longrun.loadgen.figures import percentile

Range = Literal["hour", "day"]
# (span, bucket width): an hour in 5-minute buckets, a day in hourly ones.
RANGES: dict[Range, tuple[timedelta, timedelta]] = {
    "hour": (timedelta(hours=1), timedelta(minutes=5)),
    "day": (timedelta(days=1), timedelta(hours=1)),
}


@dataclass(frozen=True, slots=True)
class _Row:
    started_at: datetime
    path: str
    model: str
    status: str
    ttft_ms: float | None
    duration_ms: float | None
    tokens: int
    streamed: bool | None


@dataclass(frozen=True, slots=True)
class Bucket:
    """One time slice of a history chart."""

    start: datetime
    calls: int
    errors: int
    cancelled: int
    tokens: int
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    ttft_p50: float | None


@dataclass(frozen=True, slots=True)
class Group:
    """The figures of one (path, model) pair over the whole range."""

    path: str
    model: str
    calls: int
    errors: int
    cancelled: int
    tokens: int
    calls_per_min: float
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    ttft_p50: float | None
    ttft_p95: float | None
    ttft_p99: float | None


@dataclass(frozen=True, slots=True)
class History:
    """What the dashboard page shows for one range: the buckets (charts) and the per-path-and-model table."""

    range: Range
    since: datetime
    bucket_width: timedelta
    buckets: list[Bucket]
    groups: list[Group]


def _summarize(rows: list[_Row]) -> tuple[int, int, int, int, list[float], list[float]]:
    errors = sum(1 for r in rows if r.status == Status.ERROR)
    cancelled = sum(1 for r in rows if r.status == Status.CANCELLED)
    tokens = sum(r.tokens for r in rows)
    # Latency counts complete calls only: an error after 1 ms or a stop after 3 s says nothing about waiting times.
    latency = [r.duration_ms for r in rows if r.status == Status.COMPLETE and r.duration_ms is not None]
    # First tokens of streamed calls only: a whole reply's ttft_ms is its latency, not a slow first token.
    ttft = [r.ttft_ms for r in rows if r.streamed and r.ttft_ms is not None]
    return len(rows), errors, cancelled, tokens, latency, ttft


def history(range_: Range, *, now: datetime | None = None) -> History:
    """The last hour's or day's finished calls, bucketed and grouped (sync: runs per page load)."""
    span, width = RANGES[range_]
    end = now or timezone.now()
    since = end - span
    rows = [
        _Row(*values)
        for values in LLMCall.objects.filter(started_at__gte=since, started_at__lte=end)
        # A rejected call never reached the LLM (LLM_MAX_IN_FLIGHT turned it away): it is no call of these charts.
        .exclude(status__in=[Status.STREAMING, Status.REJECTED])
        .values_list("started_at", "path", "model", "status", "ttft_ms", "duration_ms", "tokens", "streamed")
        .order_by("started_at")
    ]
    count = int(span / width)
    per_bucket: list[list[_Row]] = [[] for _ in range(count)]
    for row in rows:
        per_bucket[min(count - 1, int((row.started_at - since) / width))].append(row)
    buckets = []
    for index, members in enumerate(per_bucket):
        calls, errors, cancelled, tokens, latency, ttft = _summarize(members)
        buckets.append(
            Bucket(
                start=since + index * width,
                calls=calls,
                errors=errors,
                cancelled=cancelled,
                tokens=tokens,
                latency_p50=percentile(latency, 50),
                latency_p95=percentile(latency, 95),
                latency_p99=percentile(latency, 99),
                ttft_p50=percentile(ttft, 50),
            )
        )
    grouped: dict[tuple[str, str], list[_Row]] = {}
    for row in rows:
        grouped.setdefault((row.path, row.model), []).append(row)
    minutes = span.total_seconds() / 60
    groups = []
    for (path, model), members in sorted(grouped.items()):
        calls, errors, cancelled, tokens, latency, ttft = _summarize(members)
        groups.append(
            Group(
                path=path,
                model=model,
                calls=calls,
                errors=errors,
                cancelled=cancelled,
                tokens=tokens,
                calls_per_min=round(calls / minutes, 3),
                latency_p50=percentile(latency, 50),
                latency_p95=percentile(latency, 95),
                latency_p99=percentile(latency, 99),
                ttft_p50=percentile(ttft, 50),
                ttft_p95=percentile(ttft, 95),
                ttft_p99=percentile(ttft, 99),
            )
        )
    return History(range=range_, since=since, bucket_width=width, buckets=buckets, groups=groups)
