"""Every async path serves a request with no thread hop once warm: no sync_to_async, no executor, no new thread.

A structural fact, checked with ``longrun.hops``: each test sends one request first (the SDK client, the writer
and the database connection are built on first use), then counts the hops of the next one, the steady state.
The HTTP paths go through the project's own handler and middleware as configured for production
(``SERVESTATIC_AUTOREFRESH`` off: in debug ServeStatic looks for new files on a thread for each request).
"""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from longrun.asgi import ASGIHandler
from longrun.hops import count_hops, no_hops
from longrun.testing import asgi_request
from project.asgi import application
from tests.helpers import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://127.0.0.1:8000")]


@pytest.fixture
def handler() -> ASGIHandler:
    with override_settings(SERVESTATIC_AUTOREFRESH=False):
        return ASGIHandler()


async def test_the_async_complete_path_makes_no_hop(llm, async_clients, handler):
    await asgi_request(handler, "POST", "/api/async/complete", json={"prompt": "warm up"})
    with no_hops():
        response = await asgi_request(handler, "POST", "/api/async/complete", json={"prompt": "Hello"})
    assert response.status == 200
    assert response.json()["status"] == "complete"


async def test_the_async_stream_path_makes_no_hop(llm, async_clients, handler):
    await asgi_request(handler, "POST", "/api/async/stream", json={"prompt": "warm up"})
    with no_hops():
        response = await asgi_request(handler, "POST", "/api/async/stream", json={"prompt": "Hello"})
    events = parse_sse(response.body)
    assert events[-1][0] == "done"
    assert len([name for name, _ in events if name == "token"]) == llm.tokens


async def test_continuing_a_conversation_makes_no_hop(llm, async_clients, handler):
    first = await asgi_request(handler, "POST", "/api/async/complete", json={"prompt": "Hello"})
    conversation = first.json()["conversation"]
    with no_hops():
        response = await asgi_request(
            handler, "POST", "/api/async/complete", json={"prompt": "And then?", "conversation": conversation}
        )
    assert response.json()["conversation"] == conversation


async def test_the_websocket_path_makes_no_hop_per_generation(llm, async_clients):
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=ORIGIN)
    connected, _ = await communicator.connect()
    assert connected
    for gen_id in ("warm", "counted"):
        with count_hops() as hops:
            await communicator.send_json_to({"type": "prompt", "id": gen_id, "prompt": "Hello socket"})
            while True:
                message = await communicator.receive_json_from(timeout=10)
                if message["type"] in {"done", "error"}:
                    break
    assert message == message | {"type": "done", "status": "complete"}
    hops.assert_none()
    await communicator.disconnect()


async def test_the_sync_path_under_asgi_still_hops_on_purpose(llm, handler):
    with count_hops() as hops:
        response = await asgi_request(handler, "POST", "/api/sync/complete", json={"prompt": "Hello"})
    assert response.status == 200
    assert hops.sync_to_async >= 1
