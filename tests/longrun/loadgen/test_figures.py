"""The figures of a run, computed on hand-made results whose right answers are known."""

from __future__ import annotations

import json

import pytest

from longrun.loadgen.clients import Kind, RequestResult
from longrun.loadgen.figures import percentile, summarize
from longrun.loadgen.runner import ClientCpu, LoadRun

LLM_S = 2.0


def result(
    started: float, total_s: float, *, kind: Kind = "sse", error: str | None = None, ttft_s: float | None = None
) -> RequestResult:
    return RequestResult(
        kind=kind,
        ok=error is None,
        error=error,
        status=200 if error is None else None,
        started=started,
        ttft_s=ttft_s if ttft_s is not None else total_s / 4,
        total_s=total_s,
        tokens=10 if error is None else 0,
    )


def run_of(results: list[RequestResult], concurrency: int, wall_s: float, *, kind: Kind = "sse") -> LoadRun:
    return LoadRun(
        kind=kind,
        url="http://127.0.0.1:8000/api/async/stream",
        concurrency=concurrency,
        requests_per_user=1,
        duration_s=None,
        results=results,
        wall_start=100.0,
        wall_end=100.0 + wall_s,
        started_at=0.0,
        client_cpu=ClientCpu(user_s=0.3, system_s=0.1, wall_s=wall_s),
    )


def perfect_run(users: int = 32) -> LoadRun:
    """Every user's call starts at once and takes exactly as long as the LLM."""
    return run_of([result(100.0, LLM_S) for _ in range(users)], users, LLM_S)


def five_at_a_time_run(users: int = 32, workers: int = 5) -> LoadRun:
    """A worker pool of 5: user n waits for n // 5 waves before its own call; the last wave ends the run."""
    waves = -(-users // workers)
    results = [result(100.0, (n // workers + 1) * LLM_S) for n in range(users)]
    return run_of(results, users, waves * LLM_S)


def test_a_perfect_run_has_an_efficiency_of_one() -> None:
    summary = summarize(perfect_run(), llm_seconds_per_request=LLM_S)
    assert summary.efficiency == pytest.approx(1.0)


def test_a_perfect_runs_throughput_is_users_over_llm_seconds() -> None:
    summary = summarize(perfect_run(), llm_seconds_per_request=LLM_S)
    assert summary.throughput_rps == pytest.approx(32 / LLM_S)
    assert summary.ideal_rps == pytest.approx(32 / LLM_S)


def test_32_users_served_5_at_a_time_have_an_efficiency_of_one_seventh() -> None:
    summary = summarize(five_at_a_time_run(), llm_seconds_per_request=LLM_S)
    assert summary.efficiency == pytest.approx(1 / 7)


def test_the_last_user_waits_for_every_wave() -> None:
    summary = summarize(five_at_a_time_run(), llm_seconds_per_request=LLM_S)
    assert summary.last_user_wait_s == pytest.approx(7 * LLM_S)


def test_latency_percentiles_are_nearest_rank_over_the_waves() -> None:
    summary = summarize(five_at_a_time_run(), llm_seconds_per_request=LLM_S)
    # 32 sorted latencies: ranks 1-5 wave 1, ..., 16 (p50) in wave 4, 31 (p95) and 32 (p99) in wave 7.
    assert (summary.latency_p50_s, summary.latency_p95_s, summary.latency_p99_s) == (4 * LLM_S, 7 * LLM_S, 7 * LLM_S)


def test_nearest_rank_picks_a_measured_value_not_an_interpolation() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 95) == 95.0
    assert percentile([7.0], 99) == 7.0


def test_the_percentile_of_nothing_is_none() -> None:
    assert percentile([], 50) is None


def test_a_percentile_outside_0_to_100_is_refused() -> None:
    with pytest.raises(ValueError):
        percentile([1.0], 0)


def test_errors_are_counted_by_kind_and_not_as_completed() -> None:
    results = [
        result(100.0, 1.0),
        result(100.0, 3.0, error="http_502"),
        result(100.0, 5.0, error="http_502"),
        result(100.0, 9.0, error="timeout"),
    ]
    summary = summarize(run_of(results, 4, 10.0), llm_seconds_per_request=1.0)
    assert (summary.requests, summary.completed, summary.errors, summary.error_count) == (
        4,
        1,
        {"http_502": 2, "timeout": 1},
        3,
    )


def test_throughput_counts_completed_requests_only() -> None:
    results = [result(100.0, 1.0), result(100.0, 1.0), result(100.0, 1.0, error="connect")]
    summary = summarize(run_of(results, 3, 2.0), llm_seconds_per_request=1.0)
    assert summary.throughput_rps == pytest.approx(1.0)
    assert summary.efficiency == pytest.approx(1 / 3)


def test_latencies_leave_out_failed_requests_but_the_last_user_wait_does_not() -> None:
    results = [result(100.0, 1.0), result(100.0, 30.0, error="timeout")]
    summary = summarize(run_of(results, 2, 30.0), llm_seconds_per_request=1.0)
    assert (summary.latency_p99_s, summary.last_user_wait_s) == (1.0, 30.0)


def test_ttft_percentiles_come_from_streams() -> None:
    results = [result(100.0, 2.0, ttft_s=0.1 * n) for n in range(1, 11)]
    summary = summarize(run_of(results, 10, 2.0), llm_seconds_per_request=LLM_S)
    assert (summary.ttft_p50_s, summary.ttft_p99_s) == (pytest.approx(0.5), pytest.approx(1.0))


def test_a_json_run_has_no_ttft_percentiles() -> None:
    results = [result(100.0, 2.0, kind="json", ttft_s=2.0) for _ in range(4)]
    summary = summarize(run_of(results, 4, 2.0, kind="json"), llm_seconds_per_request=LLM_S)
    assert (summary.ttft_p50_s, summary.ttft_p99_s) == (None, None)


def test_a_run_where_nothing_completed_has_no_latencies_and_zero_throughput() -> None:
    summary = summarize(run_of([result(100.0, 1.0, error="connect")], 1, 1.0), llm_seconds_per_request=1.0)
    assert (summary.completed, summary.throughput_rps, summary.efficiency, summary.latency_p50_s) == (0, 0.0, 0.0, None)


def test_the_summary_carries_the_load_generators_cpu() -> None:
    summary = summarize(perfect_run(), llm_seconds_per_request=LLM_S)
    assert summary.client_cpu_percent == pytest.approx(100 * 0.4 / LLM_S)


def test_the_summary_converts_to_json() -> None:
    data = json.loads(json.dumps(summarize(five_at_a_time_run(), llm_seconds_per_request=LLM_S).as_dict()))
    assert data["completed"] == 32
    assert data["errors"] == {}


def test_a_non_positive_llm_time_is_refused() -> None:
    with pytest.raises(ValueError):
        summarize(perfect_run(), llm_seconds_per_request=0)
