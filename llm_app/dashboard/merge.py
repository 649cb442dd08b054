"""The figures over every live process: the dashboard consumer merges the snapshots each process publishes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TypedDict

from llm_app.dashboard.tracker import INTERFACES, PATHS, WINDOW_S, Snapshot
from longrun.loadgen.figures import percentile

PERCENTILES = (50, 95, 99)


class ProcessFigures(TypedDict):
    pid: int
    host: str
    interface: str
    in_flight: int
    threads: int | None
    db_connections: int | None


class Figures(TypedDict):
    """What the dashboard page shows live; the keys of in_flight are "total" and each path."""

    window_s: float
    processes: list[ProcessFigures]
    in_flight: dict[str, int]
    in_flight_by_interface: dict[str, int]
    requests_per_s: float
    tokens_per_s: float
    ttft_ms: dict[str, float | None]  # p50, p95, p99
    latency_ms: dict[str, float | None]
    finished: int
    errors: int
    cancelled: int
    rejected: int  # turned away by LLM_MAX_IN_FLIGHT: never started, so not among ``finished``
    error_rate: float
    cancel_rate: float
    reject_rate: float  # of the calls asked for in the window: finished ones and rejected ones
    cancelled_upstream: dict[str, int]  # "total" and each path
    threads: int
    db_connections: int


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _percentiles(samples: Sequence[float]) -> dict[str, float | None]:
    return {f"p{q}": percentile(samples, q) for q in PERCENTILES}


def _sum_maps(maps: Iterable[Mapping[str, int]], keys: Sequence[str]) -> dict[str, int]:
    total = dict.fromkeys(keys, 0)
    for counts in maps:
        for key, value in counts.items():
            total[key] = total.get(key, 0) + int(value)
    return total


def merge(snapshots: Sequence[Snapshot]) -> Figures:
    """The figures over ``snapshots``, one per live process (latency percentiles over all their samples)."""
    window_s = max((float(s["window_s"]) for s in snapshots), default=WINDOW_S)
    in_flight = _sum_maps((s["in_flight"] for s in snapshots), PATHS)
    by_interface = _sum_maps((s["in_flight_by_interface"] for s in snapshots), INTERFACES)
    cancelled_total = _sum_maps((s["cancelled_total"] for s in snapshots), PATHS)
    finished = sum(int(s["finished"]) for s in snapshots)
    errors = sum(int(s["errors"]) for s in snapshots)
    cancelled = sum(int(s["cancelled"]) for s in snapshots)
    # .get: a process still running code from before rejections were counted publishes none.
    rejected = sum(int(s.get("rejected", 0)) for s in snapshots)
    tokens = sum(int(s["tokens"]) for s in snapshots)
    ttft = [x for s in snapshots for x in s["ttft_samples"]]
    latency = [x for s in snapshots for x in s["latency_samples"]]
    return Figures(
        window_s=window_s,
        processes=[
            ProcessFigures(
                pid=s["pid"],
                host=s["host"],
                interface=s["interface"],
                in_flight=sum(s["in_flight"].values()),
                threads=s["threads"],
                db_connections=s["db_connections"],
            )
            for s in sorted(snapshots, key=lambda s: (s["host"], s["pid"]))
        ],
        in_flight={"total": sum(in_flight.values()), **in_flight},
        in_flight_by_interface=by_interface,
        requests_per_s=round(finished / window_s, 3),
        tokens_per_s=round(tokens / window_s, 3),
        ttft_ms=_percentiles(ttft),
        latency_ms=_percentiles(latency),
        finished=finished,
        errors=errors,
        cancelled=cancelled,
        rejected=rejected,
        error_rate=_rate(errors, finished),
        cancel_rate=_rate(cancelled, finished),
        reject_rate=_rate(rejected, finished + rejected),
        cancelled_upstream={"total": sum(cancelled_total.values()), **cancelled_total},
        threads=sum(int(s["threads"] or 0) for s in snapshots),
        db_connections=sum(int(s["db_connections"] or 0) for s in snapshots),
    )
