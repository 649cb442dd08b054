"""Two server processes sharing Redis behave as one deployment: one rate-limit count, stops that reach any socket.

Both processes serve the same SQLite file and the same Redis (channel layer and rate-limit windows), under a key
prefix of this test run's own, as two processes behind a proxy would. Each test is a client of its own to the
rate limit: the processes read the client's address from X-Real-IP, as behind the proxy of docs/deployment.md.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import aiohttp
import pytest
import websockets

from tests.production.conftest import two_processes

pytestmark = [pytest.mark.redis, pytest.mark.e2e]

RATE = 3


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory, redis_url, slow_simulator) -> Iterator[tuple[str, str]]:
    """Two daphne processes on one database and one Redis, with LLM_RATE_LIMIT at 3 a minute."""
    directory = tmp_path_factory.mktemp("two-processes")
    with two_processes(
        "daphne", directory, redis_url=redis_url, llm_url=slow_simulator.url, rate_limit=f"{RATE}/min"
    ) as urls:
        yield urls


def as_client(address: str) -> dict[str, str]:
    return {"X-Real-IP": address}


async def post_complete(base: str, session: aiohttp.ClientSession) -> aiohttp.ClientResponse:
    async with session.post(base + "/api/async/complete", json={"prompt": "Count me", "max_tokens": 1}) as reply:
        await reply.read()
        return reply


def test_the_request_past_the_rate_gets_429_whichever_process_counted_the_others(two_servers):
    first, second = two_servers

    async def scenario():
        # One client (one address), sending alternately to both processes as a round-robin proxy would.
        async with aiohttp.ClientSession(headers=as_client("198.51.100.1")) as session:
            allowed = [await post_complete(base, session) for base in (first, second, first)]
            refused = await post_complete(second, session)
            return allowed, refused

    allowed, refused = asyncio.run(scenario())
    assert [reply.status for reply in allowed] == [200] * RATE
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


async def receive(socket, kind: str) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if message["type"] == kind:
            return message


def test_a_stop_sent_to_one_process_stops_a_generation_running_on_the_other(two_servers):
    first, second = two_servers

    async def scenario():
        url = "/ws/chat/"
        client = as_client("198.51.100.2")
        async with (
            websockets.connect(first.replace("http", "ws") + url, origin=first, additional_headers=client) as running,
            websockets.connect(second.replace("http", "ws") + url, origin=second, additional_headers=client) as stopper,
        ):
            await running.send(json.dumps({"type": "prompt", "id": "long", "prompt": "A long answer"}))
            started = await receive(running, "started")
            await receive(running, "token")
            await stopper.send(json.dumps({"type": "stop", "message": started["message"], "id": "s"}))
            stopped = await receive(stopper, "stopped")
            done = await receive(running, "done")
            return started, stopped, done

    started, stopped, done = asyncio.run(scenario())
    assert stopped == {"type": "stopped", "id": "s", "message": started["message"]}
    assert done["status"] == "cancelled"
    assert done["message"] == started["message"]


def test_a_socket_idle_longer_than_the_channel_layers_blocking_read_still_works(two_servers):
    # channels_redis waits 5 s per blocking read; with redis-py 8's default 5 s socket timeout an idle socket died.
    first, _ = two_servers

    async def scenario():
        url = first.replace("http", "ws") + "/ws/chat/"
        async with websockets.connect(url, origin=first, additional_headers=as_client("198.51.100.3")) as socket:
            await asyncio.sleep(7)
            await socket.send(json.dumps({"type": "prompt", "id": "late", "prompt": "Still here?", "max_tokens": 2}))
            return await receive(socket, "done")

    assert asyncio.run(scenario())["status"] == "complete"
