"""Hostile input, property-based: whatever a client sends, it gets a clear 4xx or an ``error`` and nothing is written.

Hypothesis draws the bodies and frames; every example goes through the real request stack in-process (Django's
test clients for the JSON API, both interfaces; Channels' communicator over the full ASGI application for the
WebSocket). Example counts stay modest so the suite stays fast; ``tests/reliability/test_hostile_server.py``
repeats the worst of it against a real daphne.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient, Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from project.asgi import application
from tests.helpers import row_counts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]  # hypothesis: ~45 s in all

ENDPOINTS = ["/api/sync/complete", "/api/async/complete", "/api/sync/stream", "/api/async/stream"]
NOTHING = {"conversations": 0, "messages": 0, "calls": 0}
ORIGIN = [(b"origin", b"http://127.0.0.1:8000")]
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    # No explain phase: its line tracer resolves file paths inside the event loop, which the blocking detector
    # (on for this suite) rightly reports.
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    # The database fixture and the simulator fixture are set up once per test, not per example: that is the point.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
# Field values a request could carry, valid or not, including the classic traps: booleans as integers, huge
# integers, blank strings, NUL characters and lone surrogates (valid JSON escapes, invalid Unicode text).
field_values = (
    json_values
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "x\udfff", "\u200b", True, False, 0, -1, 2**63])
)


def a_valid_request(value: Any) -> bool:
    """The rule of README's request table, written independently of the code under test."""
    if not isinstance(value, dict):
        return False
    prompt = value.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip() or "\x00" in prompt:
        return False
    if any(0xD800 <= ord(c) <= 0xDFFF for c in prompt):
        return False

    def optional_int(key: str, top: int) -> bool:
        field = value.get(key)
        return field is None or (type(field) is int and 1 <= field <= top)

    return optional_int("max_tokens", 4096) and optional_int("conversation", 2**63 - 1)


requests = st.dictionaries(st.sampled_from(["prompt", "conversation", "max_tokens", "extra"]), field_values).filter(
    lambda body: not a_valid_request(body)
)


def assert_json_error(response: Any, statuses: set[int]) -> dict[str, Any]:
    assert response.status_code in statuses, getattr(response, "content", b"(a stream)")[:300]
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == response.status_code
    assert isinstance(error["message"], str) and len(error["message"]) > 10
    assert "Traceback" not in error["message"]
    return error


def post_both_interfaces(url: str, body: bytes, content_type: str = "application/json") -> list[Any]:
    """The same POST as WSGI (``Client``) and as ASGI (``AsyncClient``)."""

    async def asgi() -> Any:
        return await AsyncClient().post(url, data=body, content_type=content_type)

    return [Client().post(url, data=body, content_type=content_type), async_to_sync(asgi)()]


@pytest.mark.parametrize("url", ENDPOINTS)
@EXAMPLES
@given(body=st.binary(max_size=200))
def test_arbitrary_bytes_get_a_4xx_json_error_and_write_nothing(llm, url, body):
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = None
    if a_valid_request(decoded):
        return  # a random valid request is not hostile
    for response in post_both_interfaces(url, body):
        # 415 for an empty body: Django's test clients send no Content-Type without data.
        assert_json_error(response, {400, 404, 413, 415})
    assert row_counts() == NOTHING


@pytest.mark.parametrize("url", ENDPOINTS)
@EXAMPLES
@given(body=requests | json_values.filter(lambda value: not a_valid_request(value)))
def test_json_of_the_wrong_shape_or_types_gets_a_4xx_json_error_and_writes_nothing(llm, url, body):
    for response in post_both_interfaces(url, json.dumps(body).encode()):
        assert_json_error(response, {400, 413})
    assert row_counts() == NOTHING


@pytest.mark.parametrize("url", ENDPOINTS)
@EXAMPLES
@given(
    content_type=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).filter(
        lambda value: value.split(";")[0].strip().lower() != "application/json"
    )
)
def test_any_other_content_type_gets_415(llm, url, content_type):
    # Header values are printable ASCII on the wire; anything else never reaches Django.
    for response in post_both_interfaces(url, b'{"prompt": "hi"}', content_type=content_type):
        assert_json_error(response, {415})
    assert row_counts() == NOTHING


@pytest.mark.parametrize("url", ENDPOINTS)
@pytest.mark.parametrize(
    "prompt",
    ["a\x00b", "\ud800", "half \udfff pair"],
    ids=["nul", "lone-high-surrogate", "lone-low-surrogate"],
)
def test_a_prompt_that_is_not_storable_text_is_a_400_that_says_why(llm, url, prompt):
    # json.dumps writes these as \u0000 and \ud800 escapes: valid JSON, but not text a database or the LLM accepts.
    for response in post_both_interfaces(url, json.dumps({"prompt": prompt}).encode()):
        error = assert_json_error(response, {400})
        assert "prompt" in error["message"]
    assert row_counts() == NOTHING


@pytest.mark.parametrize("url", ENDPOINTS)
def test_a_conversation_id_beyond_any_database_integer_is_a_400(llm, url):
    for response in post_both_interfaces(url, json.dumps({"prompt": "hi", "conversation": 2**63}).encode()):
        assert_json_error(response, {400})
    assert row_counts() == NOTHING


@pytest.mark.parametrize("url", ENDPOINTS)
def test_a_huge_prompt_is_413_and_a_huge_body_is_413_too(llm, url):
    huge_prompt = json.dumps({"prompt": "word " * 10_000}).encode()  # 50 000 characters, over LLM_MAX_PROMPT_CHARS
    huge_body = json.dumps({"prompt": "hi", "padding": "x" * 3_000_000}).encode()  # over 2.5 MB
    for body in (huge_prompt, huge_body):
        for response in post_both_interfaces(url, body):
            assert_json_error(response, {413})
    assert row_counts() == NOTHING


@pytest.mark.parametrize("url", ["/api/sync/complete", "/api/async/complete"])
@pytest.mark.parametrize(
    "prompt", ["日本語で説明して", "émoji 🚀 and RTL עברית", "tab\tand\nnewline", "\u200b zero width"]
)
def test_unusual_but_valid_text_is_answered_and_stored_as_sent(llm, url, prompt):
    from llm_app.models import Message

    response = Client().post(url, data=json.dumps({"prompt": prompt}), content_type="application/json")
    assert response.status_code == 200
    assert Message.objects.get(role="user").content == prompt


# --- the WebSocket protocol ----------------------------------------------------------------------------------


async def _exchange(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Opens a socket, sends each frame, collects one reply per frame, closes."""
    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=ORIGIN)
    connected, _ = await communicator.connect()
    assert connected
    replies = []
    try:
        for frame in frames:
            # The raw ASGI event: send_to() refuses empty frames, which a real client can send.
            await communicator.send_input({"type": "websocket.receive", **frame})
            replies.append(await communicator.receive_json_from(timeout=5))
        assert await communicator.receive_nothing(timeout=0.05)
    finally:
        await communicator.disconnect()
    return replies


def assert_error_message(reply: dict[str, Any]) -> None:
    assert reply["type"] == "error", reply
    assert isinstance(reply["id"], str)
    assert isinstance(reply["message"], str) and len(reply["message"]) > 10


def a_valid_prompt_message(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "prompt"
        and str(value.get("id", "")) != ""
        and a_valid_request({k: v for k, v in value.items() if k not in {"type", "id"}})
    )


ws_messages = (
    json_values
    | st.fixed_dictionaries(
        {"type": st.text(max_size=12) | json_scalars, "id": json_values}, optional={"x": field_values}
    )
    | st.fixed_dictionaries({"type": st.just("prompt"), "id": json_values}).flatmap(
        lambda head: requests.map(lambda body: {**head, **body})
    )
).filter(
    lambda value: not a_valid_prompt_message(value) and not (isinstance(value, dict) and value.get("type") == "stop")
)


@EXAMPLES
@given(message=ws_messages)
def test_any_json_that_is_not_a_valid_message_gets_one_error_message_and_writes_nothing(llm, message):
    [reply] = async_to_sync(_exchange)([{"text": json.dumps(message)}])
    assert_error_message(reply)
    assert row_counts() == NOTHING


@EXAMPLES
@given(frame=st.binary(max_size=300) | st.text(max_size=300).filter(lambda text: not _is_json(text)))
def test_any_frame_that_is_not_json_text_gets_an_error_message(llm, frame):
    message = {"bytes": frame} if isinstance(frame, bytes) else {"text": frame}
    [reply] = async_to_sync(_exchange)([message])
    assert_error_message(reply)
    assert row_counts() == NOTHING


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


@EXAMPLES
@given(ids=st.lists(json_values, min_size=20, max_size=60))
def test_a_flood_of_stops_for_unknown_ids_gets_an_error_each_and_the_socket_still_serves(llm, ids):
    stops = [{"text": json.dumps({"type": "stop", "id": gen_id})} for gen_id in ids]
    replies = async_to_sync(_exchange)(stops)
    assert len(replies) == len(ids)
    for reply, gen_id in zip(replies, ids, strict=True):
        assert_error_message(reply)
        assert reply["id"] == str(gen_id)
    assert row_counts() == NOTHING


async def test_more_generations_than_a_socket_allows_get_an_error_each_and_the_others_run(slow_llm, async_clients):
    from llm_app.consumers import MAX_ACTIVE_GENERATIONS
    from llm_app.models import LLMCall

    communicator = WebsocketCommunicator(application, "/ws/chat/", headers=ORIGIN)
    assert (await communicator.connect())[0]
    allowed = [f"g{i}" for i in range(MAX_ACTIVE_GENERATIONS)]
    extra = [f"over{i}" for i in range(4)]
    for gen_id in allowed + extra:
        await communicator.send_json_to({"type": "prompt", "id": gen_id, "prompt": "Busy", "max_tokens": 3})
    refused, done = set(), set()
    while done != set(allowed):
        message = await communicator.receive_json_from(timeout=15)
        if message["type"] == "error":
            assert "At most" in message["message"]
            refused.add(message["id"])
        elif message["type"] == "done":
            assert message["status"] == "complete"
            done.add(message["id"])
    assert refused == set(extra)
    await communicator.disconnect()
    assert await LLMCall.objects.acount() == MAX_ACTIVE_GENERATIONS
