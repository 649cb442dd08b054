"""Fixtures for the simulator's tests: a fresh in-process simulator per test, the SDK client, its counters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam

from longrun.simulator import SimulatorConfig
from longrun.simulator.server import start_simulator

# Small and fast, so timing tests stay quick; lower bounds only are asserted on them.
TTFT_MS = 50
TOKEN_MS = 10
TOKENS = 8
PROMPT: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Tell me about long-running requests."}]


@dataclass(frozen=True)
class Running:
    """A simulator started for one test: its base URL (``.../v1``) and its root for ``/stats``."""

    url: str

    @property
    def root(self) -> str:
        return self.url.removesuffix("/v1")

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any, dict[str, str]]:
        """Sends one raw request and returns status, decoded JSON body and headers."""
        async with aiohttp.ClientSession() as session, session.request(method, self.root + path, **kwargs) as response:
            return response.status, await response.json(content_type=None), dict(response.headers)

    async def stats(self) -> dict[str, int]:
        _, body, _ = await self.request("GET", "/stats")
        return dict(body)

    async def settled_stats(self, expected_finished: int, *, active: int = 0) -> dict[str, int]:
        """The counters once ``active`` requests run and ``expected_finished`` requests have ended."""
        # A safety net against a hang, not a timing assertion: the server needs a moment to see a disconnect.
        for _ in range(500):
            stats = await self.stats()
            finished = stats["completed"] + stats["cancelled"] + stats["errors"]
            if stats["active"] == active and finished >= expected_finished:
                return stats
            await asyncio.sleep(0.01)
        return stats


@pytest.fixture
async def simulator() -> AsyncIterator[Running]:
    runner, url = await start_simulator(SimulatorConfig(ttft_ms=TTFT_MS, token_ms=TOKEN_MS, tokens=TOKENS))
    yield Running(url)
    await runner.cleanup()


@pytest.fixture
async def client(simulator: Running) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(base_url=simulator.url, api_key="test", max_retries=0)
    yield client
    await client.close()
