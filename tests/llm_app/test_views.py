"""The HTTP paths in-process: the JSON and SSE replies of the sync and async views, and the bad-input table.

Django's test ``Client`` builds WSGI requests and ``AsyncClient`` ASGI ones, so the sync views are exercised
under both interfaces here (the sync stream under ASGI goes through the per-chunk bridge).
"""

from __future__ import annotations

import json

import pytest
from django.test import AsyncClient, Client

from llm_app.models import LLMCall, Message
from tests.helpers import parse_sse, row_counts

pytestmark = pytest.mark.django_db(transaction=True)

COMPLETE = ["/api/sync/complete", "/api/async/complete"]
STREAM = ["/api/sync/stream", "/api/async/stream"]
ENDPOINTS = COMPLETE + STREAM
REPLY_KEYS = {"conversation", "message", "content", "tokens", "ttft_ms", "duration_ms", "status"}


def post(client, url, body, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(url, data=data, content_type=content_type)


async def apost(client, url, body, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return await client.post(url, data=data, content_type=content_type)


async def aread(response) -> bytes:
    return b"".join([chunk async for chunk in response.streaming_content])


@pytest.mark.parametrize("url", COMPLETE)
def test_complete_answers_with_the_whole_reply_as_json(llm, url):
    response = post(Client(), url, {"prompt": "Tell me about ASGI"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == REPLY_KEYS
    assert body["status"] == "complete"
    assert body["tokens"] == llm.tokens
    assert len(body["content"].split()) == llm.tokens
    assert body["ttft_ms"] >= llm.reply_ms * 0.9


@pytest.mark.parametrize("url", COMPLETE)
async def test_complete_works_from_an_async_client_too(llm, async_clients, url):
    response = await apost(AsyncClient(), url, {"prompt": "Tell me about ASGI"})
    assert response.status_code == 200
    assert response.json()["tokens"] == llm.tokens


def test_sync_stream_sends_tokens_then_done_under_wsgi(llm):
    response = post(Client(), "/api/sync/stream", {"prompt": "Stream please"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert not response.is_async
    events = parse_sse(b"".join(response.streaming_content))
    tokens = [data["text"] for name, data in events if name == "token"]
    assert len(tokens) == llm.tokens
    assert events[-1][0] == "done"
    assert events[-1][1]["content"] == "".join(tokens)
    assert events[-1][1]["status"] == "complete"


@pytest.mark.parametrize("url", STREAM)
async def test_streams_are_async_iterators_under_asgi(llm, async_clients, url):
    response = await apost(AsyncClient(), url, {"prompt": "Stream please"})
    assert response.status_code == 200
    assert response.is_async, "a sync iterator here would be buffered whole by Django"
    events = parse_sse(await aread(response))
    assert [name for name, _ in events].count("token") == llm.tokens
    assert events[-1][0] == "done"
    assert set(events[-1][1]) == REPLY_KEYS


@pytest.mark.parametrize("url", COMPLETE)
def test_a_follow_up_prompt_continues_the_conversation(llm, url):
    first = post(Client(), url, {"prompt": "First"}).json()
    second = post(Client(), url, {"prompt": "Second", "conversation": first["conversation"]}).json()
    assert second["conversation"] == first["conversation"]
    roles = list(Message.objects.filter(conversation=first["conversation"]).values_list("role", flat=True))
    assert roles == ["user", "assistant", "user", "assistant"]


@pytest.mark.parametrize("url", COMPLETE)
def test_max_tokens_caps_the_reply(llm, url):
    body = post(Client(), url, {"prompt": "Short", "max_tokens": 3}).json()
    assert body["tokens"] == 3


@pytest.mark.parametrize("url", ENDPOINTS)
@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ({"prompt": ""}, "application/json", 400),
        ({"prompt": "x", "max_tokens": True}, "application/json", 400),
        ({"prompt": "x", "max_tokens": 0}, "application/json", 400),
        (b"{not json", "application/json", 400),
        ("prompt=hi", "application/x-www-form-urlencoded", 415),
        ({"prompt": "hi", "conversation": 999999}, "application/json", 404),
    ],
)
def test_bad_input_gets_a_json_error_and_writes_nothing(llm, url, body, content_type, status):
    response = post(Client(), url, body, content_type)
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == status
    assert error["message"]
    assert row_counts() == {"conversations": 0, "messages": 0, "calls": 0}


@pytest.mark.parametrize("url", ENDPOINTS)
def test_a_prompt_over_the_limit_is_413_json(llm, settings, url):
    settings.LLM_MAX_PROMPT_CHARS = 100
    response = post(Client(), url, {"prompt": "x" * 101})
    assert response.status_code == 413
    assert "LLM_MAX_PROMPT_CHARS" in response.json()["error"]["message"]
    assert row_counts()["calls"] == 0


@pytest.mark.parametrize("url", ENDPOINTS)
def test_a_body_over_the_upload_limit_is_413_json_not_an_html_page(llm, settings, url):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post(Client(), url, {"prompt": "x" * 2000})
    assert response.status_code == 413
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["error"]["message"]
    assert row_counts()["calls"] == 0


@pytest.mark.parametrize("url", ENDPOINTS)
def test_get_is_refused_with_405_json(llm, url):
    response = Client().get(url)
    assert response.status_code == 405
    assert "POST" in response.json()["error"]["message"]


@pytest.mark.parametrize("url", ENDPOINTS)
async def test_bad_input_is_refused_the_same_way_under_asgi(llm, async_clients, url):
    response = await apost(AsyncClient(), url, b"{not json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


@pytest.mark.parametrize("url", COMPLETE)
def test_an_upstream_500_is_a_502_with_the_call_recorded(llm, settings, url):
    settings.LLM_MODEL = "fault:500"
    response = post(Client(), url, {"prompt": "Break"})
    assert response.status_code == 502
    body = response.json()
    assert "HTTP 500" in body["error"]["message"]
    assert body["status"] == "error"
    call = LLMCall.objects.get()
    assert call.status == "error"
    assert "HTTP 500" in call.error
    assert call.message.status == "error"


@pytest.mark.parametrize("url", COMPLETE)
def test_an_unreachable_llm_is_a_502_that_says_to_start_it(llm, settings, url):
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"
    response = post(Client(), url, {"prompt": "Anyone there?"})
    assert response.status_code == 502
    assert "is it running" in response.json()["error"]["message"]
    assert LLMCall.objects.get().status == "error"


@pytest.mark.parametrize("url", STREAM)
async def test_a_stream_cut_mid_way_ends_with_an_error_event_and_keeps_the_partial_text(
    llm, settings, async_clients, url
):
    settings.LLM_MODEL = "fault:cut"
    response = await apost(AsyncClient(), url, {"prompt": "Cut me"})
    events = parse_sse(await aread(response))
    assert events[-1][0] == "error"
    tokens = "".join(data["text"] for name, data in events if name == "token")
    assert tokens, "the cut comes mid-way: some tokens arrive first"
    message = await Message.objects.aget(role="assistant")
    assert message.status == "error"
    assert message.content == tokens
    assert (await LLMCall.objects.aget()).tokens == len([1 for name, _ in events if name == "token"])


@pytest.mark.parametrize("url", STREAM)
async def test_a_stalled_stream_ends_with_a_timeout_error_event(llm, settings, async_clients, url):
    settings.LLM_MODEL = "fault:stall"
    settings.LLM_TIMEOUT = 0.5
    response = await apost(AsyncClient(), url, {"prompt": "Stall"})
    events = parse_sse(await aread(response))
    assert events[-1][0] == "error"
    assert "LLM_TIMEOUT" in events[-1][1]["message"]


@pytest.mark.parametrize(("url", "streamed"), [(u, False) for u in COMPLETE] + [(u, True) for u in STREAM])
async def test_each_call_is_recorded_as_streamed_or_as_a_whole_reply(llm, async_clients, url, streamed):
    response = await apost(AsyncClient(), url, {"prompt": "Which kind am I?"})
    if response.streaming:
        await aread(response)
    call = await LLMCall.objects.aget()
    assert (call.status, call.streamed) == ("complete", streamed)
