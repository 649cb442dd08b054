"""Fixtures shared by every test: real LLM simulator processes, and the settings that point the app at them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
LISTENING = re.compile(r"LLM simulator listening on (http://\S+/v1)")


@dataclass(frozen=True)
class Simulator:
    """A simulator process started for the test session, and what it was told."""

    url: str
    ttft_ms: int
    token_ms: int
    tokens: int

    @property
    def reply_ms(self) -> int:
        return self.ttft_ms + self.tokens * self.token_ms

    def stats(self) -> dict[str, int]:
        """Called by sync tests: the simulator's counters."""
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/stats", timeout=5) as reply:
            return json.load(reply)  # type: ignore[no-any-return]

    async def astats(self) -> dict[str, int]:
        """Called by async tests: the same counters, fetched off the event loop."""
        return await asyncio.to_thread(self.stats)


def _start_simulator(ttft_ms: int, token_ms: int, tokens: int) -> tuple[subprocess.Popen[str], Simulator]:
    process = subprocess.Popen(
        [
            sys.executable, "manage.py", "llm_simulator", "--host", "127.0.0.1", "--port", "0",
            "--ttft-ms", str(ttft_ms), "--token-ms", str(token_ms), "--tokens", str(tokens),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings_test"},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = LISTENING.search(line)
    if match is None:
        process.kill()
        raise RuntimeError(f"The simulator did not start; its first line was {line!r}")
    return process, Simulator(url=match.group(1), ttft_ms=ttft_ms, token_ms=token_ms, tokens=tokens)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture(scope="session")
def fast_simulator() -> Iterator[Simulator]:
    """A quick LLM: 20 tokens in about 0.25 s, for tests that need whole replies."""
    process, simulator = _start_simulator(ttft_ms=50, token_ms=10, tokens=20)
    yield simulator
    _stop(process)


@pytest.fixture(scope="session")
def slow_simulator() -> Iterator[Simulator]:
    """A slow LLM: 40 tokens over about 4 s, for tests that stop or disconnect mid-reply."""
    process, simulator = _start_simulator(ttft_ms=100, token_ms=100, tokens=40)
    yield simulator
    _stop(process)


@pytest.fixture
def llm(settings: Any, fast_simulator: Simulator) -> Simulator:
    """Points the app at the fast simulator."""
    settings.LLM_BASE_URL = fast_simulator.url
    return fast_simulator


@pytest.fixture
def slow_llm(settings: Any, slow_simulator: Simulator) -> Simulator:
    """Points the app at the slow simulator."""
    settings.LLM_BASE_URL = slow_simulator.url
    return slow_simulator


@pytest.fixture
async def async_clients() -> AsyncIterator[None]:
    """Closes the test loop's async OpenAI clients at the end, so no socket outlives its loop."""
    from llm_app.services.clients import aclose_clients

    yield
    await aclose_clients()
