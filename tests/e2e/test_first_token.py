"""Streams really stream through real servers: tokens arrive spread over the reply, not in one burst at the end.

A buffered stream delivers every event at once, so its first token and its done event arrive together. A real
stream's first token arrives about one TTFT after the request, and the done event (N-1) token delays later. The
assertion is that structural gap (at least half the simulator's token schedule), never a wall-clock limit.
"""

from __future__ import annotations

import asyncio

import pytest

from longrun.loadgen.clients import RequestResult, make_session, post_sse, websocket

pytestmark = pytest.mark.e2e

TOKENS = 10
PAYLOAD = {"prompt": "Stream through a real server", "max_tokens": TOKENS}


async def stream_timings(url: str) -> RequestResult:
    """The load generator's timed SSE request: seconds to the first token and to ``done``, and the tokens."""
    async with make_session(1) as session:
        return await post_sse(session, url, PAYLOAD)


async def websocket_timings(base: str) -> RequestResult:
    return await websocket(base.replace("http", "ws", 1) + "/ws/chat/", base, PAYLOAD)


def assert_streamed(result: RequestResult, simulator) -> None:
    assert result.ok, result.error
    assert result.tokens == TOKENS and result.ttft_s is not None
    first, done = result.ttft_s, result.total_s
    spread = (TOKENS - 1) * simulator.token_ms / 1000
    assert done - first >= spread / 2, f"first token at {first:.3f}s, done at {done:.3f}s: the stream was buffered"


@pytest.mark.parametrize("path", ["/api/async/stream", "/api/sync/stream"])
def test_daphne_streams_each_path_token_by_token(server, slow_simulator, path):
    with server("daphne") as base:
        assert_streamed(asyncio.run(stream_timings(base + path)), slow_simulator)


def test_daphne_streams_the_websocket_path_token_by_token(server, slow_simulator):
    with server("daphne") as base:
        assert_streamed(asyncio.run(websocket_timings(base)), slow_simulator)


def test_a_gunicorn_worker_pool_streams_the_sync_path_token_by_token(server, slow_simulator):
    with server("gunicorn", workers=2) as base:
        assert_streamed(asyncio.run(stream_timings(base + "/api/sync/stream")), slow_simulator)
