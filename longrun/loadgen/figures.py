"""The figures of one run: what completed, what failed and how, throughput, efficiency, latency percentiles.

Percentiles use the **nearest-rank** method: the p-th percentile of n sorted values is the value at rank
``ceil(p / 100 * n)`` (1-based), so it is always one of the measured values, never an interpolation.

Efficiency compares the run with an ideal server that starts every user's LLM call at once: ``concurrency``
users whose calls each take ``llm_seconds_per_request`` can at best complete ``concurrency /
llm_seconds_per_request`` requests a second. A server that holds a worker per call and has 5 workers for 32
users completes them in 7 waves, an efficiency of 32 / 7 / 32 = 1 / 7.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from longrun.loadgen.runner import LoadRun


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank p-th percentile (0 < p <= 100) of ``values``; None when there are none."""
    if not 0 < p <= 100:
        raise ValueError("p must be in (0, 100].")
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True, slots=True)
class Summary:
    """The figures of one run. Times are seconds; latencies are over completed requests only."""

    kind: str
    concurrency: int
    requests: int  # sent, completed or not
    completed: int
    errors: dict[str, int]  # error kind -> count
    wall_s: float  # from the release of the users to the end of the last one
    throughput_rps: float  # completed / wall_s
    ideal_rps: float  # concurrency / llm_seconds_per_request
    efficiency: float  # throughput_rps / ideal_rps: 1.0 when every call ran at once, as fast as the LLM
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_p99_s: float | None
    ttft_p50_s: float | None  # streams only (sse, websocket); None for json
    ttft_p99_s: float | None
    last_user_wait_s: float | None  # the longest total_s of any request, failed ones included
    tokens: int  # over completed requests
    client_cpu_percent: float  # the load generator's own CPU, percent of one core

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(run: LoadRun, *, llm_seconds_per_request: float) -> Summary:
    """Summarizes ``run``; ``llm_seconds_per_request`` is how long one LLM call takes on its own (TTFT + tokens)."""
    if llm_seconds_per_request <= 0:
        raise ValueError("llm_seconds_per_request must be positive.")
    done = [r for r in run.results if r.ok]
    errors = Counter(r.error or "unknown" for r in run.results if not r.ok)
    wall = run.wall_s
    throughput = len(done) / wall if wall > 0 else 0.0
    ideal = run.concurrency / llm_seconds_per_request
    latencies = [r.total_s for r in done]
    ttfts = [r.ttft_s for r in done if r.ttft_s is not None] if run.kind != "json" else []
    return Summary(
        kind=run.kind,
        concurrency=run.concurrency,
        requests=len(run.results),
        completed=len(done),
        errors=dict(sorted(errors.items())),
        wall_s=wall,
        throughput_rps=throughput,
        ideal_rps=ideal,
        efficiency=throughput / ideal,
        latency_p50_s=percentile(latencies, 50),
        latency_p95_s=percentile(latencies, 95),
        latency_p99_s=percentile(latencies, 99),
        ttft_p50_s=percentile(ttfts, 50),
        ttft_p99_s=percentile(ttfts, 99),
        last_user_wait_s=max((r.total_s for r in run.results), default=None),
        tokens=sum(r.tokens for r in done),
        client_cpu_percent=run.client_cpu.percent,
    )
