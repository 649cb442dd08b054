"""A client that goes away mid-reply, through Django's ASGI handler (as Django's own tests do it).

The async paths cancel the upstream call (the simulator counts it) and save the partial answer as cancelled.
The sync stream under ASGI is closed by the bridge after its current chunk: the same outcome, one token later.
A sync ``complete`` is not stopped: its thread runs the whole call, recorded as complete.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.testing import ApplicationCommunicator
from django.core.asgi import get_asgi_application
from django.db import OperationalError

from llm_app.models import LLMCall, Message

pytestmark = pytest.mark.django_db(transaction=True)


def http_scope(path: str, body: bytes) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def open_request(path: str, payload: dict) -> ApplicationCommunicator:
    body = json.dumps(payload).encode()
    communicator = ApplicationCommunicator(get_asgi_application(), http_scope(path, body))
    await communicator.send_input({"type": "http.request", "body": body, "more_body": False})
    return communicator


async def wait_for(predicate, timeout=5.0):
    for _ in range(int(timeout / 0.05)):
        try:
            if await predicate():
                return True
        except OperationalError as exc:
            # The test database is in-memory SQLite in shared-cache mode, where a read meets a write in progress
            # with "database table is locked" at once (no busy timeout): the save under test is still being
            # written, so look again.
            if "locked" not in str(exc):
                raise
        await asyncio.sleep(0.05)
    return False


@pytest.mark.parametrize("path", ["/api/async/stream", "/api/sync/stream"])
async def test_a_disconnect_mid_stream_cancels_upstream_and_keeps_the_partial_answer(slow_llm, async_clients, path):
    before = (await slow_llm.astats())["cancelled"]
    communicator = await open_request(path, {"prompt": "Disconnect me"})
    start = await communicator.receive_output(timeout=10)
    assert start["type"] == "http.response.start"
    first = await communicator.receive_output(timeout=10)
    assert b"event: token" in first["body"]
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(timeout=10)

    async def recorded():
        return await LLMCall.objects.filter(status="cancelled").aexists()

    assert await wait_for(recorded)
    message = await Message.objects.aget(role="assistant")
    assert message.status == "cancelled"
    assert message.content, "the tokens that arrived before the disconnect are kept"
    call = await LLMCall.objects.aget()
    assert 0 < call.tokens < slow_llm.tokens

    async def upstream_cancelled():
        return (await slow_llm.astats())["cancelled"] == before + 1

    assert await wait_for(upstream_cancelled), "the simulator saw the upstream request closed early"


async def test_a_disconnect_during_an_async_complete_cancels_the_upstream_call(slow_llm, async_clients):
    before = (await slow_llm.astats())["cancelled"]
    communicator = await open_request("/api/async/complete", {"prompt": "Disconnect me"})

    async def upstream_active():
        return (await slow_llm.astats())["active"] >= 1

    assert await wait_for(upstream_active)
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(timeout=10)

    async def recorded():
        return await LLMCall.objects.filter(status="cancelled").aexists()

    assert await wait_for(recorded)

    async def upstream_cancelled():
        return (await slow_llm.astats())["cancelled"] == before + 1

    assert await wait_for(upstream_cancelled)


async def test_a_disconnect_during_a_sync_complete_does_not_stop_the_call(slow_llm, async_clients):
    before = await slow_llm.astats()
    communicator = await open_request("/api/sync/complete", {"prompt": "Leave me"})

    async def upstream_active():
        return (await slow_llm.astats())["active"] >= 1

    assert await wait_for(upstream_active)
    await communicator.send_input({"type": "http.disconnect"})
    await communicator.wait(timeout=15)

    async def recorded():
        return await LLMCall.objects.exclude(status="streaming").aexists()

    # The view's thread runs the whole call (about 4 s) although Django's handler gave up on the request.
    assert await wait_for(recorded, timeout=15)
    call = await LLMCall.objects.aget()
    assert (call.status, call.tokens) == ("complete", slow_llm.tokens)
    after = await slow_llm.astats()
    assert (after["completed"], after["cancelled"]) == (before["completed"] + 1, before["cancelled"])
