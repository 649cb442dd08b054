"""The migrated project's WebSocket: a task per generation, so a "stop" gets through mid-answer."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.test import AsyncRequestFactory

from tests.conftest import Simulator
from tests.legacy.after.chat import views as after
from tests.legacy.after.chat.consumers import ChatConsumer

# Channels closes old database connections around every message the consumer handles.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def simulator(request: pytest.FixtureRequest) -> Simulator:
    """The fast simulator, or the slow one for a test marked by requesting `slow_llm`."""
    name = "slow_llm" if "slow_llm" in request.fixturenames else "llm"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
async def communicator(settings: Any, simulator: Simulator) -> AsyncIterator[WebsocketCommunicator]:
    settings.ANSWER_WEBHOOK = ""
    await cache.aclear()
    after.llm_client.cache_clear()
    socket = WebsocketCommunicator(ChatConsumer.as_asgi(), "/ws/chat/")
    connected, _ = await socket.connect()
    assert connected
    yield socket
    await socket.disconnect()
    await after.llm_client().close()
    after.llm_client.cache_clear()


async def test_a_whole_answer_over_the_socket_is_the_http_answer(
    communicator: WebsocketCommunicator, simulator: Simulator
):
    await communicator.send_json_to({"type": "prompt", "id": "a", "prompt": "Explain ASGI", "conversation": "w1"})
    tokens = []
    while (message := await communicator.receive_json_from(timeout=10))["type"] == "token":
        tokens.append(message["text"])
    assert message == {"type": "done", "id": "a", "content": "".join(tokens), "status": "complete"}
    assert len(tokens) == simulator.tokens
    http = await after.complete(
        AsyncRequestFactory().post("/chat/complete", {"prompt": "Explain ASGI"}, content_type="application/json")
    )
    assert json.loads(http.content)["content"] == "".join(tokens)


async def test_stop_ends_a_generation_mid_answer_with_its_partial_text_saved(
    communicator: WebsocketCommunicator, slow_llm: Simulator
):
    cancelled_before = (await slow_llm.astats())["cancelled"]
    await communicator.send_json_to({"type": "prompt", "id": "a", "prompt": "Explain ASGI", "conversation": "w1"})
    tokens = []
    while len(tokens) < 2:
        message = await communicator.receive_json_from(timeout=10)
        assert message["type"] == "token"
        tokens.append(message["text"])
    await communicator.send_json_to({"type": "stop", "id": "a"})
    while (message := await communicator.receive_json_from(timeout=10))["type"] == "token":
        tokens.append(message["text"])

    assert message == {"type": "done", "id": "a", "content": "".join(tokens), "status": "cancelled"}
    assert len(tokens) < slow_llm.tokens  # stopped long before the 40 tokens of a whole answer
    assert await cache.aget("answer:w1") == {"content": "".join(tokens), "status": "cancelled"}
    for _ in range(100):  # the simulator notices the closed upstream request a moment later
        if (await slow_llm.astats())["cancelled"] > cancelled_before:
            break
        await asyncio.sleep(0.05)
    assert (await slow_llm.astats())["cancelled"] > cancelled_before
