"""The WebSocket path through the full ASGI application (origin validation and auth stack included)."""

from __future__ import annotations

import asyncio

import pytest
from channels.testing import WebsocketCommunicator

from llm_app.models import LLMCall, Message
from project.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://127.0.0.1:8000")]


async def connect(headers=ORIGIN) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive_until(communicator, kind, gen_id, timeout=10):
    """Collects messages until one of ``kind`` for ``gen_id`` arrives; returns them all."""
    seen = []
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        seen.append(message)
        if message["type"] == kind and message["id"] == gen_id:
            return seen


async def test_a_prompt_streams_tokens_then_done(llm, async_clients):
    communicator = await connect()
    await communicator.send_json_to({"type": "prompt", "id": "a", "prompt": "Hello socket"})
    seen = await receive_until(communicator, "done", "a")
    tokens = [m["text"] for m in seen if m["type"] == "token"]
    assert len(tokens) == llm.tokens
    done = seen[-1]
    assert done["status"] == "complete"
    assert done["content"] == "".join(tokens)
    assert {"conversation", "message", "tokens", "ttft_ms", "duration_ms"} <= set(done)
    await communicator.disconnect()
    call = await LLMCall.objects.aget()
    assert (call.path, call.interface, call.status) == ("websocket", "asgi", "complete")


async def test_stop_cancels_one_generation_while_another_on_the_same_socket_finishes(slow_llm, async_clients):
    before = (await slow_llm.astats())["cancelled"]
    communicator = await connect()
    await communicator.send_json_to({"type": "prompt", "id": "keep", "prompt": "Keep going", "max_tokens": 8})
    await communicator.send_json_to({"type": "prompt", "id": "stop", "prompt": "Stop me"})
    seen = []
    while not any(m["type"] == "token" and m["id"] == "stop" for m in seen):
        seen.append(await communicator.receive_json_from(timeout=10))
    await communicator.send_json_to({"type": "stop", "id": "stop"})
    seen += await receive_until(communicator, "done", "stop")
    stopped = seen[-1]
    assert stopped["status"] == "cancelled"
    partial = "".join(m["text"] for m in seen if m["type"] == "token" and m["id"] == "stop")
    assert stopped["content"] == partial
    assert 0 < stopped["tokens"] < slow_llm.tokens
    if not any(m["type"] == "done" and m["id"] == "keep" for m in seen):
        seen += await receive_until(communicator, "done", "keep")
    kept = next(m for m in seen if m["type"] == "done" and m["id"] == "keep")
    assert kept["status"] == "complete"
    assert kept["tokens"] == 8
    await communicator.disconnect()
    saved = await Message.objects.aget(pk=stopped["message"])
    assert (saved.status, saved.content) == ("cancelled", partial)
    assert (await slow_llm.astats())["cancelled"] == before + 1


async def test_a_disconnect_cancels_every_running_generation_and_saves_their_parts(slow_llm, async_clients):
    before = (await slow_llm.astats())["cancelled"]
    communicator = await connect()
    for gen_id in ("one", "two"):
        await communicator.send_json_to({"type": "prompt", "id": gen_id, "prompt": f"Run {gen_id}"})
    started = set()
    while started != {"one", "two"}:
        message = await communicator.receive_json_from(timeout=10)
        if message["type"] == "token":
            started.add(message["id"])
    await communicator.disconnect()
    statuses = [s async for s in LLMCall.objects.values_list("status", flat=True)]
    assert statuses == ["cancelled", "cancelled"]
    assert all([m.content async for m in Message.objects.filter(role="assistant")])
    for _ in range(50):
        if (await slow_llm.astats())["cancelled"] == before + 2:
            break
        await asyncio.sleep(0.05)
    assert (await slow_llm.astats())["cancelled"] == before + 2


async def test_an_invalid_prompt_gets_an_error_message_and_writes_nothing(llm, async_clients):
    communicator = await connect()
    await communicator.send_json_to({"type": "prompt", "id": "bad", "prompt": ""})
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "error"
    assert message["id"] == "bad"
    assert "`prompt` is required" in message["message"]
    await communicator.disconnect()
    assert await LLMCall.objects.acount() == 0


async def test_an_unknown_message_type_gets_an_error_that_names_the_protocol(llm, async_clients):
    communicator = await connect()
    await communicator.send_json_to({"type": "shout", "id": "x"})
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "error"
    assert '"type": "prompt"' in message["message"]
    await communicator.disconnect()


async def test_a_frame_that_is_not_json_gets_an_error_and_the_socket_stays_open(llm, async_clients):
    communicator = await connect()
    await communicator.send_to(text_data="{not json")
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "error" and "not valid JSON" in message["message"]
    await communicator.send_to(bytes_data=b"\x00\x01")
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "error" and "text frames" in message["message"]
    await communicator.send_json_to({"type": "prompt", "id": "after", "prompt": "Still there?", "max_tokens": 2})
    seen = await receive_until(communicator, "done", "after")
    assert seen[-1]["status"] == "complete"
    await communicator.disconnect()


async def test_stop_for_an_unknown_id_gets_an_error(llm, async_clients):
    communicator = await connect()
    await communicator.send_json_to({"type": "stop", "id": "nope"})
    message = await communicator.receive_json_from(timeout=5)
    assert (message["type"], message["id"]) == ("error", "nope")
    await communicator.disconnect()


async def test_an_unknown_conversation_gets_an_error_and_writes_nothing(llm, async_clients):
    communicator = await connect()
    await communicator.send_json_to({"type": "prompt", "id": "c", "prompt": "Hi", "conversation": 424242})
    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "error"
    assert "does not exist" in message["message"]
    await communicator.disconnect()
    assert await Message.objects.acount() == 0


async def test_a_socket_from_a_foreign_origin_is_refused(llm):
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=[(b"origin", b"http://evil.example")])
    connected, _ = await communicator.connect()
    assert not connected


async def test_an_anonymous_socket_is_refused_when_auth_is_required(llm, settings):
    settings.LLM_REQUIRE_AUTH = True
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=ORIGIN)
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401
