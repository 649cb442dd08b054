"""Starting the simulator: in-process, and as a child process with the synchronous SDK client."""

from __future__ import annotations

import argparse
import time

import pytest
from openai import APIConnectionError, AsyncOpenAI, OpenAI, RateLimitError

import longrun.simulator
from longrun.simulator import Fault, SimulatorConfig, SimulatorProcess, fetch_stats, settled_stats
from longrun.simulator.app import STATS_KEY
from longrun.simulator.config import add_arguments, config_from_options
from longrun.simulator.server import base_url, start_simulator
from tests.longrun.simulator.conftest import PROMPT


def sync_client(url: str) -> OpenAI:
    """The synchronous SDK client the tests use, without retries."""
    return OpenAI(base_url=url, api_key="test", max_retries=0)


def test_a_base_url_ends_in_v1_and_brackets_ipv6_hosts() -> None:
    assert base_url("127.0.0.1", 9100) == "http://127.0.0.1:9100/v1"
    assert base_url("::1", 9100) == "http://[::1]:9100/v1"


def test_the_package_exports_the_config_the_process_the_fault_enum_and_the_stats_readers() -> None:
    assert sorted(longrun.simulator.__all__) == [
        "Fault",
        "SimulatorConfig",
        "SimulatorProcess",
        "fetch_stats",
        "settled_stats",
    ]
    assert [
        getattr(longrun.simulator, name).__name__ for name in longrun.simulator.__all__
    ] == longrun.simulator.__all__


async def test_start_simulator_on_port_0_reports_the_real_port() -> None:
    runner, url = await start_simulator(SimulatorConfig(host="127.0.0.1", port=0))
    try:
        assert url == f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        assert not url.endswith(":0/v1")
    finally:
        await runner.cleanup()


QUICK = SimulatorConfig(ttft_ms=20, token_ms=5, tokens=6)


def test_a_simulator_process_serves_the_sync_client() -> None:
    with SimulatorProcess(QUICK) as process, sync_client(process.base_url) as client:
        url = process.base_url
        started = time.perf_counter()
        completion = client.chat.completions.create(model="m", messages=PROMPT)
        elapsed = time.perf_counter() - started
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    assert completion.usage is not None and completion.usage.completion_tokens == 6
    assert elapsed >= 0.05


def test_a_simulator_process_streams_to_the_sync_client() -> None:
    with SimulatorProcess(QUICK) as process, sync_client(process.base_url) as client:
        with client.chat.completions.create(model="m", messages=PROMPT, stream=True) as stream:
            pieces = [
                chunk.choices[0].delta.content for chunk in stream if chunk.choices and chunk.choices[0].delta.content
            ]
    assert len(pieces) == 6


def test_a_simulator_process_counts_its_requests_in_its_stats() -> None:
    with SimulatorProcess(QUICK) as process, sync_client(process.base_url) as client:
        assert process.stats() == {"active": 0, "peak_active": 0, "completed": 0, "cancelled": 0, "errors": 0}
        client.chat.completions.create(model="m", messages=PROMPT)
        assert process.stats() == {"active": 0, "peak_active": 1, "completed": 1, "cancelled": 0, "errors": 0}


def test_a_simulator_process_resets_its_finished_counters_and_its_peak() -> None:
    with SimulatorProcess(QUICK) as process, sync_client(process.base_url) as client:
        client.chat.completions.create(model="m", messages=PROMPT)
        assert process.reset_stats() == {"active": 0, "peak_active": 0, "completed": 0, "cancelled": 0, "errors": 0}
        assert process.stats()["completed"] == 0


def test_the_stats_of_a_simulator_run_elsewhere_are_read_from_its_base_url() -> None:
    with SimulatorProcess(QUICK) as process, sync_client(process.base_url) as client:
        client.chat.completions.create(model="m", messages=PROMPT)
        assert fetch_stats(process.base_url) == process.stats()
        assert fetch_stats(process.base_url + "/")["completed"] == 1


def test_settled_stats_wait_for_a_call_whose_client_left_to_be_counted_as_ended() -> None:
    slow = SimulatorConfig(ttft_ms=1, token_ms=200, tokens=20)
    with SimulatorProcess(slow) as process, sync_client(process.base_url) as client:
        with client.chat.completions.create(model="m", messages=PROMPT, stream=True) as stream:
            next(iter(stream))
        # The client has hung up; the simulator notices at its next token.
        assert process.settled_stats() == {
            "active": 0,
            "peak_active": 1,
            "completed": 0,
            "cancelled": 1,
            "errors": 0,
        }
        assert settled_stats(process.base_url) == process.stats()


def test_a_simulator_process_runs_the_whole_config_it_was_given() -> None:
    config = SimulatorConfig(ttft_ms=1, token_ms=1, tokens=4, model="house-model", retry_after_s=7)
    with SimulatorProcess(config) as process, sync_client(process.base_url) as client:
        assert [model.id for model in client.models.list()][0] == "house-model"
        completion = client.chat.completions.create(model="m", messages=PROMPT)
        with pytest.raises(RateLimitError) as raised:
            client.chat.completions.create(model=Fault.RATE_LIMIT, messages=PROMPT)
    assert completion.usage is not None and completion.usage.completion_tokens == 4
    assert raised.value.response.headers["retry-after"] == "7"


def test_a_config_turned_into_flags_parses_back_to_itself() -> None:
    config = SimulatorConfig(host="::1", port=9200, ttft_ms=12.5, token_ms=0, tokens=3, stall_cap_s=5, retry_after_s=2)
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from_options(vars(parser.parse_args(config.argv()))) == config


def test_leaving_the_context_ends_the_process() -> None:
    with SimulatorProcess(SimulatorConfig(ttft_ms=1, token_ms=1, tokens=1)) as process:
        popen = process.popen
    assert popen is not None and popen.returncode == 0
    assert process.popen is None and process.base_url == ""


def test_a_process_that_cannot_start_raises_instead_of_hanging() -> None:
    busy = SimulatorProcess(SimulatorConfig(tokens=1))
    with busy:
        port = int(busy.base_url.rsplit(":", 1)[1].removesuffix("/v1"))
        with pytest.raises(RuntimeError, match="exited"), SimulatorProcess(SimulatorConfig(port=port)):
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
    assert runner.app[STATS_KEY].snapshot() == {
        "active": 0,
        "peak_active": 1,
        "completed": 0,
        "cancelled": 1,
        "errors": 0,
    }
