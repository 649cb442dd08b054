"""Streams really stream through real servers: tokens arrive spread over the reply, not in one burst at the end.

A buffered stream delivers every event at once, so its first token and its done event arrive together. A real
stream's first token arrives about one TTFT after the request, and the done event (N-1) token delays later. The
assertion is that structural gap (at least half the simulator's token schedule), never a wall-clock limit.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest
import websockets

pytestmark = pytest.mark.e2e

TOKENS = 10


async def stream_timings(url: str) -> tuple[float, float, int]:
    """POSTs to an SSE endpoint; returns (seconds to first token, seconds to done, token count)."""
    started = time.perf_counter()
    first = done = None
    tokens = 0
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"prompt": "Stream through a real server", "max_tokens": TOKENS}) as reply:
            assert reply.status == 200, await reply.text()
            async for line in reply.content:
                if line.startswith(b"event: token"):
                    tokens += 1
                    first = first or time.perf_counter() - started
                elif line.startswith(b"event: done"):
                    done = time.perf_counter() - started
    assert first is not None and done is not None
    return first, done, tokens


async def websocket_timings(base: str) -> tuple[float, float, int]:
    started = time.perf_counter()
    first = done = None
    tokens = 0
    async with websockets.connect(base.replace("http", "ws") + "/ws/chat/", origin=base) as socket:
        await socket.send(json.dumps({"type": "prompt", "id": "1", "prompt": "Stream", "max_tokens": TOKENS}))
        while done is None:
            message = json.loads(await socket.recv())
            if message["type"] == "token":
                tokens += 1
                first = first or time.perf_counter() - started
            elif message["type"] == "done":
                done = time.perf_counter() - started
            elif message["type"] != "started":
                raise AssertionError(message)
    assert first is not None
    return first, done, tokens


def assert_streamed(first: float, done: float, tokens: int, simulator) -> None:
    assert tokens == TOKENS
    spread = (TOKENS - 1) * simulator.token_ms / 1000
    assert done - first >= spread / 2, f"first token at {first:.3f}s, done at {done:.3f}s: the stream was buffered"


@pytest.mark.parametrize("path", ["/api/async/stream", "/api/sync/stream"])
def test_daphne_streams_each_path_token_by_token(server, slow_simulator, path):
    with server("daphne") as base:
        assert_streamed(*asyncio.run(stream_timings(base + path)), slow_simulator)


def test_daphne_streams_the_websocket_path_token_by_token(server, slow_simulator):
    with server("daphne") as base:
        assert_streamed(*asyncio.run(websocket_timings(base)), slow_simulator)


def test_a_gunicorn_worker_pool_streams_the_sync_path_token_by_token(server, slow_simulator):
    with server("gunicorn", workers=2) as base:
        assert_streamed(*asyncio.run(stream_timings(base + "/api/sync/stream")), slow_simulator)
