"""``GET /stats``: each request counts once as completed, cancelled or errors, active returns to 0, and the peak
keeps the most requests in flight at once."""

from __future__ import annotations

import pytest
from openai import APITimeoutError, AsyncOpenAI, InternalServerError, RateLimitError

from longrun.simulator import Fault
from longrun.simulator.stats import Stats
from tests.longrun.simulator.conftest import PROMPT, Running

# Long enough that the client is surely gone before the reply ends.
SLOW = {"simulator_ttft_ms": 50, "simulator_token_ms": 100, "simulator_tokens": 100}


async def test_a_fresh_simulator_counts_nothing(simulator: Running) -> None:
    assert await simulator.stats() == {"active": 0, "peak_active": 0, "completed": 0, "cancelled": 0, "errors": 0}


async def test_finished_replies_count_as_completed(simulator: Running, client: AsyncOpenAI) -> None:
    await client.chat.completions.create(model="m", messages=PROMPT)
    stream = await client.chat.completions.create(model="m", messages=PROMPT, stream=True)
    async with stream:
        _ = [chunk async for chunk in stream]
    assert await simulator.settled_stats(2) == {
        "active": 0,
        "peak_active": 1,
        "completed": 2,
        "cancelled": 0,
        "errors": 0,
    }


async def test_a_stream_closed_early_counts_as_cancelled(simulator: Running, client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model="m", messages=PROMPT, stream=True, extra_body=SLOW)
    async with stream:
        await stream.__anext__()
    assert await simulator.settled_stats(1) == {
        "active": 0,
        "peak_active": 1,
        "completed": 0,
        "cancelled": 1,
        "errors": 0,
    }


async def test_a_whole_reply_whose_client_timed_out_counts_as_cancelled(
    simulator: Running, client: AsyncOpenAI
) -> None:
    with pytest.raises(APITimeoutError):
        await client.chat.completions.create(model="m", messages=PROMPT, extra_body=SLOW, timeout=0.3)
    assert await simulator.settled_stats(1) == {
        "active": 0,
        "peak_active": 1,
        "completed": 0,
        "cancelled": 1,
        "errors": 0,
    }


async def test_a_client_gone_before_the_first_token_counts_as_cancelled(
    simulator: Running, client: AsyncOpenAI
) -> None:
    slow_start = {**SLOW, "simulator_ttft_ms": 5000}
    with pytest.raises(APITimeoutError):
        await client.chat.completions.create(
            model="m", messages=PROMPT, stream=True, extra_body=slow_start, timeout=0.3
        )
    assert await simulator.settled_stats(1) == {
        "active": 0,
        "peak_active": 1,
        "completed": 0,
        "cancelled": 1,
        "errors": 0,
    }


async def test_every_fault_served_counts_as_an_error(simulator: Running, client: AsyncOpenAI) -> None:
    for model, error in ((Fault.SERVER_ERROR, InternalServerError), (Fault.RATE_LIMIT, RateLimitError)):
        with pytest.raises(error):
            await client.chat.completions.create(model=model, messages=PROMPT)
    for model in (Fault.STALL, Fault.CUT, Fault.MALFORMED):
        with pytest.raises(Exception):  # noqa: B017 (test_faults.py checks each kind)
            await client.chat.completions.create(model=model, messages=PROMPT, timeout=0.5)
    stats = await simulator.settled_stats(5)
    # A stalled request ends when the server sees its client gone, which may be after the next one started.
    del stats["peak_active"]
    assert stats == {"active": 0, "completed": 0, "cancelled": 0, "errors": 5}


async def test_active_counts_replies_in_flight(simulator: Running, client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(model="m", messages=PROMPT, stream=True, extra_body=SLOW)
    async with stream:
        await stream.__anext__()
        assert (await simulator.stats())["active"] == 1


async def test_the_peak_is_the_most_replies_that_were_in_flight_at_once(
    simulator: Running, client: AsyncOpenAI
) -> None:
    streams = [
        await client.chat.completions.create(model="m", messages=PROMPT, stream=True, extra_body=SLOW) for _ in range(3)
    ]
    for stream in streams:
        await stream.__anext__()  # each reply has begun: three in flight together
    for stream in streams:
        await stream.close()
    stats = await simulator.settled_stats(3)
    assert (stats["active"], stats["peak_active"]) == (0, 3)
    await client.chat.completions.create(model="m", messages=PROMPT)
    assert (await simulator.stats())["peak_active"] == 3


async def test_reset_restarts_the_peak_from_the_replies_still_in_flight(
    simulator: Running, client: AsyncOpenAI
) -> None:
    first, second = [
        await client.chat.completions.create(model="m", messages=PROMPT, stream=True, extra_body=SLOW) for _ in range(2)
    ]
    await first.__anext__()
    await second.__anext__()
    await first.close()
    assert (await simulator.settled_stats(1, active=1))["peak_active"] == 2
    _, body, _ = await simulator.request("POST", "/stats/reset")
    assert (body["active"], body["peak_active"]) == (1, 1)
    await second.close()
    assert (await simulator.settled_stats(1))["peak_active"] == 1


async def test_reset_zeroes_the_finished_counters(simulator: Running, client: AsyncOpenAI) -> None:
    await client.chat.completions.create(model="m", messages=PROMPT)
    status, body, _ = await simulator.request("POST", "/stats/reset")
    assert status == 200
    assert body == {"active": 0, "peak_active": 0, "completed": 0, "cancelled": 0, "errors": 0}


async def test_bad_requests_are_not_counted(simulator: Running) -> None:
    await simulator.request("POST", "/v1/chat/completions", data=b"not json")
    assert await simulator.stats() == {"active": 0, "peak_active": 0, "completed": 0, "cancelled": 0, "errors": 0}


def test_an_unexpected_exception_counts_as_an_error_and_leaves_nothing_active() -> None:
    stats = Stats()
    with pytest.raises(RuntimeError), stats.track():
        raise RuntimeError("bug")
    assert stats.snapshot() == {"active": 0, "peak_active": 1, "completed": 0, "cancelled": 0, "errors": 1}


def test_a_fault_stays_an_error_when_the_client_then_leaves() -> None:
    stats = Stats()
    with pytest.raises(ConnectionResetError), stats.track() as record:
        record.fault()
        raise ConnectionResetError
    assert stats.snapshot()["errors"] == 1
