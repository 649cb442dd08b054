"""N users released together, each sending its requests in turn: what reaches the server and what is recorded."""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Mapping
from typing import Any

import pytest

from longrun.loadgen.clients import KINDS, RequestResult
from longrun.loadgen.runner import CLIENTS, LoadRun, raise_nofile_limit, run_load, run_users
from tests.longrun.loadgen.conftest import ORIGIN, TOKENS, FakeApp


def numbered(user: int, index: int) -> Mapping[str, Any]:
    return {"prompt": f"user {user} request {index}"}


async def slow_json_run(fake: FakeApp, concurrency: int, **kwargs: Any) -> LoadRun:
    fake.delay_s = 0.3
    return await run_load(
        kind="json", url=fake.url + "/complete", concurrency=concurrency, payload_factory=numbered, **kwargs
    )


async def test_all_users_are_in_flight_at_once(fake_app: FakeApp) -> None:
    await slow_json_run(fake_app, 20)
    assert fake_app.max_in_flight == 20


async def test_each_user_sends_its_requests_one_after_another(fake_app: FakeApp) -> None:
    await slow_json_run(fake_app, 4, requests_per_user=3)
    assert fake_app.max_in_flight == 4


async def test_every_user_sends_requests_per_user_requests(fake_app: FakeApp) -> None:
    run = await slow_json_run(fake_app, 4, requests_per_user=3)
    expected = sorted(f"user {u} request {i}" for u in range(4) for i in range(3))
    assert sorted(body["prompt"] for body in fake_app.bodies) == expected
    assert (len(run.results), fake_app.requests, run.requests_per_user) == (12, 12, 3)


async def test_a_run_records_every_result_in_order_of_start(fake_app: FakeApp) -> None:
    run = await slow_json_run(fake_app, 5, requests_per_user=2)
    starts = [r.started for r in run.results]
    assert len(starts) == 10 and starts == sorted(starts)
    assert all(r.ok for r in run.results)


async def test_no_request_starts_before_the_release_nor_ends_after_the_run(fake_app: FakeApp) -> None:
    run = await slow_json_run(fake_app, 10)
    assert len(run.results) == 10
    assert all(run.wall_start <= r.started and r.started + r.total_s <= run.wall_end + 1e-9 for r in run.results)


async def test_a_run_bounded_by_duration_starts_no_request_after_it(fake_app: FakeApp) -> None:
    fake_app.delay_s = 0.1
    run = await run_load(
        kind="json", url=fake_app.url + "/complete", concurrency=3, payload_factory=numbered, duration_s=0.5
    )
    assert run.requests_per_user is None and run.duration_s == 0.5
    assert {body["prompt"].split(" request")[0] for body in fake_app.bodies} == {"user 0", "user 1", "user 2"}
    assert run.results and all(r.started < run.wall_start + 0.5 for r in run.results)


async def test_a_run_measures_the_load_generators_own_cpu(fake_app: FakeApp) -> None:
    run = await slow_json_run(fake_app, 10)
    cpu = run.client_cpu
    assert cpu.user_s >= 0 and cpu.system_s >= 0 and cpu.seconds > 0
    assert cpu.wall_s == pytest.approx(run.wall_s)
    assert cpu.percent == pytest.approx(100 * cpu.seconds / cpu.wall_s)


async def test_a_stream_run_counts_every_users_tokens(fake_app: FakeApp) -> None:
    run = await run_load(kind="sse", url=fake_app.url + "/stream", concurrency=8, payload_factory=numbered)
    assert [(r.ok, r.tokens, r.kind) for r in run.results] == [(True, TOKENS, "sse")] * 8


async def test_a_websocket_run_sends_every_users_prompt_with_the_origin(ws_url: str) -> None:
    run = await run_load(
        kind="websocket", url=ws_url, concurrency=6, requests_per_user=2, payload_factory=numbered, origin=ORIGIN
    )
    assert [(r.ok, r.tokens) for r in run.results] == [(True, TOKENS)] * 12


async def test_failed_requests_are_recorded_not_raised(fake_app: FakeApp) -> None:
    run = await run_load(kind="json", url=fake_app.url + "/fail", concurrency=3, payload_factory=numbered)
    assert [r.error for r in run.results] == ["http_502"] * 3


@pytest.mark.skipif(
    resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 2500,
    reason="client and server sockets of 1000 users need 2000+ files",
)
async def test_a_thousand_users_are_all_in_flight_at_once(fake_app: FakeApp) -> None:
    run = await slow_json_run(fake_app, 1000)
    assert fake_app.max_in_flight == 1000
    assert sum(r.ok for r in run.results) == 1000


async def test_a_run_without_users_is_refused() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        await run_load(kind="json", url="http://127.0.0.1:1/", concurrency=0, payload_factory=numbered)


def test_the_open_file_limit_is_raised_to_the_hard_limit_when_needed() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 512), hard))
        assert raise_nofile_limit(1000) == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == (hard if hard != resource.RLIM_INFINITY else 1000)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_open_file_limit_is_left_alone_when_it_suffices() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_nofile_limit(10) == soft


async def test_an_unknown_kind_is_refused_with_the_kinds_to_choose_from() -> None:
    with pytest.raises(ValueError, match="json, sse, websocket"):
        await run_load(kind="grpc", url="http://127.0.0.1:1/", concurrency=1, payload_factory=numbered)  # type: ignore[arg-type]


def test_every_kind_has_a_client() -> None:
    assert set(CLIENTS) == set(KINDS)


async def test_run_users_releases_any_request_coroutine_for_every_user_at_once() -> None:
    in_flight = peak = 0

    async def request(user: int, index: int) -> RequestResult:
        nonlocal in_flight, peak
        started = time.perf_counter()
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1
        return RequestResult("sse", True, None, 200, started, None, time.perf_counter() - started, user * 10 + index)

    burst = await run_users(concurrency=7, request=request, requests_per_user=2)
    assert peak == 7
    assert sorted(r.tokens for r in burst.results) == sorted(u * 10 + i for u in range(7) for i in range(2))
    assert burst.wall_end > burst.wall_start and burst.client_cpu.wall_s == burst.wall_end - burst.wall_start
