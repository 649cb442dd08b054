"""Streams really stream through real servers: tokens arrive while the LLM generates, not in one burst at the end.

A buffered stream delivers every event once the reply has ended, when the LLM's call has ended too. A real
stream's first token arrives while the simulator still counts the call in flight: the assertion is that fact of
state (``tests.helpers.assert_streamed_while_generating``), never a time, which a loaded machine would stretch.
"""

from __future__ import annotations

import asyncio

import pytest
import websockets

from longrun.loadgen.clients import make_session
from tests.helpers import Streamed, assert_streamed_while_generating, sse_while_generating, websocket_while_generating

pytestmark = pytest.mark.e2e

# The slow simulator's 100 ms a token: the LLM is still generating for 0.9 s after the first token.
TOKENS = 10
PAYLOAD = {"prompt": "Stream through a real server", "max_tokens": TOKENS}


async def sse(url: str, simulator) -> Streamed:
    async with make_session(1) as session:
        return await sse_while_generating(session, url, PAYLOAD, simulator)


async def chat_socket(base: str, simulator) -> Streamed:
    async with websockets.connect(base.replace("http", "ws", 1) + "/ws/chat/", origin=base) as socket:
        return await websocket_while_generating(socket, PAYLOAD, simulator)


@pytest.mark.parametrize("path", ["/api/async/stream", "/api/sync/stream"])
def test_daphne_streams_each_path_token_by_token(server, slow_simulator, path):
    with server("daphne") as base:
        assert_streamed_while_generating(asyncio.run(sse(base + path, slow_simulator)), TOKENS)


def test_daphne_streams_the_websocket_path_token_by_token(server, slow_simulator):
    with server("daphne") as base:
        assert_streamed_while_generating(asyncio.run(chat_socket(base, slow_simulator)), TOKENS)


def test_a_gunicorn_worker_pool_streams_the_sync_path_token_by_token(server, slow_simulator):
    with server("gunicorn", workers=2) as base:
        assert_streamed_while_generating(asyncio.run(sse(base + "/api/sync/stream", slow_simulator)), TOKENS)
