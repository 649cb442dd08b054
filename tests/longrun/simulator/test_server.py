"""Starting the simulator: in-process, and as a child process with the synchronous SDK client."""

from __future__ import annotations

import time

import pytest
from openai import APIConnectionError, AsyncOpenAI, OpenAI

from longrun.simulator import (
    STATS_KEY,
    SimulatorConfig,
    SimulatorProcess,
    base_url,
    run_simulator_process,
    start_simulator,
)
from tests.longrun.simulator.conftest import PROMPT


def sync_client(url: str) -> OpenAI:
    """The synchronous SDK client the tests use, without retries."""
    return OpenAI(base_url=url, api_key="test", max_retries=0)


def test_a_base_url_ends_in_v1_and_brackets_ipv6_hosts() -> None:
    assert base_url("127.0.0.1", 9100) == "http://127.0.0.1:9100/v1"
    assert base_url("::1", 9100) == "http://[::1]:9100/v1"


async def test_start_simulator_on_port_0_reports_the_real_port() -> None:
    runner, url = await start_simulator(SimulatorConfig(), "127.0.0.1", 0)
    try:
        assert url == f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        assert not url.endswith(":0/v1")
    finally:
        await runner.cleanup()


def test_a_simulator_process_serves_the_sync_client() -> None:
    with run_simulator_process(ttft_ms=20, token_ms=5, tokens=6) as url, sync_client(url) as client:
        started = time.perf_counter()
        completion = client.chat.completions.create(model="m", messages=PROMPT)
        elapsed = time.perf_counter() - started
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    assert completion.usage is not None and completion.usage.completion_tokens == 6
    assert elapsed >= 0.05


def test_a_simulator_process_streams_to_the_sync_client() -> None:
    with run_simulator_process(ttft_ms=20, token_ms=5, tokens=6) as url, sync_client(url) as client:
        with client.chat.completions.create(model="m", messages=PROMPT, stream=True) as stream:
            pieces = [
                chunk.choices[0].delta.content for chunk in stream if chunk.choices and chunk.choices[0].delta.content
            ]
    assert len(pieces) == 6


def test_leaving_the_context_ends_the_process() -> None:
    with SimulatorProcess(ttft_ms=1, token_ms=1, tokens=1) as process:
        popen = process.popen
    assert popen is not None and popen.returncode == 0


def test_a_process_that_cannot_start_raises_instead_of_hanging() -> None:
    with pytest.raises(RuntimeError, match="exited"), SimulatorProcess(tokens=0):
        pass


async def test_stopping_the_server_ends_replies_in_flight_as_cancelled() -> None:
    runner, url = await start_simulator(SimulatorConfig(ttft_ms=0, token_ms=1000, tokens=100))
    client = AsyncOpenAI(base_url=url, api_key="test", max_retries=0)
    try:
        stream = await client.chat.completions.create(model="m", messages=PROMPT, stream=True)
        async with stream:
            await stream.__anext__()
            await runner.cleanup()
            with pytest.raises(APIConnectionError):
                _ = [chunk async for chunk in stream]
    finally:
        await client.close()
    assert runner.app[STATS_KEY].snapshot() == {"active": 0, "completed": 0, "cancelled": 1, "errors": 0}
