"""docs/deployment.md's nginx config, run by Debian's nginx in front of two uvicorn processes sharing Redis.

Through it: streams are not buffered (the first token reaches the client while the LLM is still generating the
reply, as the simulator's own count of calls in flight shows), a WebSocket's stop works (on its own socket, and by
message id from a socket nginx sent to the other process), and the rate limit sees each client's own address, not
nginx's. How long the first token takes with and without nginx is measured by benchmarks/proxy.py
(docs/deployment.md), not asserted here: on a shared machine a time says more about the load than about nginx.

Every client here connects from an address of its own on the loopback network (127.0.0.x), so nginx sees real,
distinct client addresses, as it would on the Internet.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import pytest
import websockets

from longrun.proxy import running_nginx
from tests.e2e.conftest import ROOT
from tests.helpers import Streamed, assert_streamed_while_generating, sse_while_generating, websocket_while_generating
from tests.production.conftest import two_processes

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

SITE = ROOT / "deploy" / "nginx" / "longrun.conf"
# The slow simulator's 100 ms a token: the LLM is still generating for 1.9 s after the first token.
TOKENS = 20
RATE = 3


@dataclass(frozen=True)
class Deployment:
    proxy: str
    upstreams: tuple[str, str]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, redis_url, slow_simulator) -> Iterator[Deployment]:
    directory = tmp_path_factory.mktemp("proxy")
    with two_processes(
        "uvicorn", directory, redis_url=redis_url, llm_url=slow_simulator.url, rate_limit=f"{RATE}/min"
    ) as (first, second, _env):
        upstreams = [url.removeprefix("http://") for url in (first, second)]
        with running_nginx(SITE, upstreams=upstreams) as proxy:
            yield Deployment(proxy=proxy, upstreams=(first, second))


def session_from(address: str) -> aiohttp.ClientSession:
    """A client connecting from ``address`` (any 127.0.0.x is this machine)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0), force_close=True))


def socket_from(address: str, base: str):
    return websockets.connect(base.replace("http", "ws", 1) + "/ws/chat/", origin=base, local_addr=(address, 0))


async def receive(socket, kind: str) -> dict:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 15))
        if message["type"] == kind:
            return message


PROMPT = {"prompt": "Through the proxy", "max_tokens": TOKENS}


async def sse_through(address: str, url: str, simulator) -> Streamed:
    async with session_from(address) as session:
        return await sse_while_generating(session, url, PROMPT, simulator)


async def websocket_through(address: str, base: str, simulator) -> Streamed:
    async with socket_from(address, base) as socket:
        return await websocket_while_generating(socket, PROMPT, simulator)


@pytest.mark.parametrize(("path", "client"), [("/api/async/stream", "127.0.0.11"), ("/api/sync/stream", "127.0.0.12")])
def test_the_first_token_arrives_through_nginx_while_the_llm_is_still_generating(
    deployment, slow_simulator, path, client
):
    streamed = asyncio.run(sse_through(client, deployment.proxy + path, slow_simulator))
    assert_streamed_while_generating(streamed, TOKENS)


def test_websocket_tokens_arrive_through_nginx_while_the_llm_is_still_generating(deployment, slow_simulator):
    streamed = asyncio.run(websocket_through("127.0.0.13", deployment.proxy, slow_simulator))
    assert_streamed_while_generating(streamed, TOKENS)


def test_a_websocket_stop_works_through_nginx(deployment):
    async def scenario():
        async with socket_from("127.0.0.14", deployment.proxy) as socket:
            await socket.send(json.dumps({"type": "prompt", "id": "g", "prompt": "A long answer"}))
            await receive(socket, "token")
            await socket.send(json.dumps({"type": "stop", "id": "g"}))
            return await receive(socket, "done")

    done = asyncio.run(scenario())
    assert done["status"] == "cancelled"
    assert 0 < done["tokens"] < 40


def test_a_stop_by_message_id_through_nginx_reaches_a_generation_on_either_process(deployment):
    async def scenario():
        # least_conn sends the second socket to the process the first one is not on.
        async with (
            socket_from("127.0.0.15", deployment.proxy) as running,
            socket_from("127.0.0.15", deployment.proxy) as stopper,
        ):
            await running.send(json.dumps({"type": "prompt", "id": "g", "prompt": "A long answer"}))
            started = await receive(running, "started")
            await stopper.send(json.dumps({"type": "stop", "message": started["message"]}))
            return await receive(stopper, "stopped"), await receive(running, "done")

    stopped, done = asyncio.run(scenario())
    assert stopped["message"] == done["message"]
    assert done["status"] == "cancelled"


async def post_complete(session: aiohttp.ClientSession, url: str, **headers: str) -> int:
    async with session.post(url, json={"prompt": "Count me", "max_tokens": 1}, headers=headers) as reply:
        await reply.read()
        return reply.status


def test_each_client_address_reaches_the_rate_limit_through_nginx(deployment):
    url = deployment.proxy + "/api/async/complete"

    async def scenario():
        async with session_from("127.0.0.21") as first, session_from("127.0.0.22") as second:
            counted = [await post_complete(first, url) for _ in range(RATE + 1)]
            # nginx overwrites X-Real-IP with the address it saw: a client cannot pass as another.
            other = await post_complete(second, url, **{"X-Real-IP": "127.0.0.21"})
            return counted, other

    counted, other = asyncio.run(scenario())
    assert counted == [200] * RATE + [429]
    assert other == 200
