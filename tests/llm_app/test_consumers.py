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
    answers = [m.content async for m in Message.objects.filter(role="assistant")]
    assert len(answers) == 2 and all(answers), "each cancelled generation kept its partial text"
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


async def test_a_generation_announces_its_conversation_and_message_before_its_tokens(llm, async_clients):
    communicator = await connect()
    await communicator.send_json_to({"type": "prompt", "id": "s", "prompt": "Hello", "max_tokens": 3})
    seen = await receive_until(communicator, "done", "s")
    await communicator.disconnect()
    started, done = seen[0], seen[-1]
    assert started == {"type": "started", "id": "s", "conversation": done["conversation"], "message": done["message"]}
    assert [m["type"] for m in seen[1:-1]] == ["token"] * 3


async def test_a_stop_by_message_id_from_another_socket_stops_the_generation(slow_llm, async_clients):
    running, stopper = await connect(), await connect()
    await running.send_json_to({"type": "prompt", "id": "long", "prompt": "Go on and on"})
    started = await running.receive_json_from(timeout=10)
    assert started["type"] == "started"
    await stopper.send_json_to({"type": "stop", "message": started["message"], "id": "x"})
    assert await stopper.receive_json_from(timeout=5) == {"type": "stopped", "id": "x", "message": started["message"]}
    seen = await receive_until(running, "done", "long")
    assert seen[-1]["status"] == "cancelled"
    await running.disconnect()
    await stopper.disconnect()
    saved = await Message.objects.aget(pk=started["message"])
    assert saved.status == "cancelled"


async def test_a_stop_by_message_id_that_reaches_no_generation_gets_an_error(llm, async_clients):
    communicator = await connect()
    await communicator.send_json_to({"type": "stop", "message": 424242, "id": "x"})
    message = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    assert (message["type"], message["id"]) == ("error", "x")
    assert "No running generation writes message 424242" in message["message"]


async def test_a_stop_by_message_id_must_name_a_number(llm, async_clients):
    communicator = await connect()
    await communicator.send_json_to({"type": "stop", "message": "57"})
    message = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    assert message["type"] == "error" and "`message` must be the id" in message["message"]


async def socket_of(user) -> WebsocketCommunicator:
    from llm_app.consumers import ChatConsumer

    communicator = WebsocketCommunicator(ChatConsumer.as_asgi(), "/ws/chat/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def test_only_its_user_may_stop_a_logged_in_users_generation_by_message_id(slow_llm, async_clients):
    from django.contrib.auth.models import User

    owner = await User.objects.acreate_user("owner", password="x")
    other = await User.objects.acreate_user("other", password="x")
    running, intruder = await socket_of(owner), await socket_of(other)
    await running.send_json_to({"type": "prompt", "id": "mine", "prompt": "Private", "max_tokens": 20})
    started = await running.receive_json_from(timeout=10)
    await intruder.send_json_to({"type": "stop", "message": started["message"], "id": "x"})
    refused = await intruder.receive_json_from(timeout=5)
    seen = await receive_until(running, "done", "mine")
    await running.disconnect()
    await intruder.disconnect()
    assert refused["type"] == "error"
    assert seen[-1]["status"] == "complete"


async def test_past_the_in_flight_cap_a_prompt_gets_an_error_with_a_retry_hint(slow_llm, async_clients, settings):
    settings.LLM_MAX_IN_FLIGHT = 1
    settings.LLM_QUEUE_TIMEOUT = 0.1
    communicator = await connect()
    await communicator.send_json_to({"type": "prompt", "id": "first", "prompt": "Take the slot", "max_tokens": 20})
    assert (await communicator.receive_json_from(timeout=10))["type"] == "started"
    await communicator.send_json_to({"type": "prompt", "id": "second", "prompt": "No room"})
    seen = await receive_until(communicator, "error", "second")
    await receive_until(communicator, "done", "first")
    await communicator.disconnect()
    assert seen[-1]["retry_after"] == 1
    assert "LLM_MAX_IN_FLIGHT=1" in seen[-1]["message"]
    assert await LLMCall.objects.filter(status="rejected", path="websocket").acount() == 1


async def test_past_the_rate_limit_a_prompt_gets_an_error_with_a_retry_hint(llm, async_clients, settings, monkeypatch):
    from llm_app.services import rate_limit

    monkeypatch.setattr(rate_limit, "_local", rate_limit._LocalWindows())
    settings.LLM_RATE_LIMIT = "1/min"
    communicator = await connect()
    await communicator.send_json_to({"type": "prompt", "id": "one", "prompt": "Hi", "max_tokens": 2})
    await receive_until(communicator, "done", "one")
    await communicator.send_json_to({"type": "prompt", "id": "two", "prompt": "Again"})
    message = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    assert (message["type"], message["id"]) == ("error", "two")
    assert 1 <= message["retry_after"] <= 60
    assert "LLM_RATE_LIMIT allows 1/min" in message["message"]
    assert await LLMCall.objects.acount() == 1
