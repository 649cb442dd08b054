"""LLM_MAX_IN_FLIGHT through the views: K calls run, the rest wait a bounded time, then get a clear 503.

With the cap at K, K requests take every slot first; M more arrive while those run. Each of the M waits 0.2 s
for a slot, then is turned away, long before a running call ends (a stream keeps its slot until the client has
read it, which the test does only at the end; a whole reply takes over a second). A turned-away request writes one
``LLMCall`` row with status ``rejected`` and nothing else, and never reaches the LLM.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from django.test import AsyncClient, Client

from llm_app.models import Conversation, LLMCall, Message
from llm_app.services import limits
from tests.helpers import parse_sse

pytestmark = pytest.mark.django_db(transaction=True)

K, M = 2, 3
TOKENS = 12
QUEUE_TIMEOUT_S = 0.2
ENDPOINTS = ["/api/sync/complete", "/api/async/complete", "/api/sync/stream", "/api/async/stream"]


@pytest.fixture
def capped(settings, slow_llm, async_clients):
    settings.LLM_MAX_IN_FLIGHT = K
    settings.LLM_QUEUE_TIMEOUT = QUEUE_TIMEOUT_S
    return slow_llm


def body_of(index: int, **extra) -> str:
    return json.dumps({"prompt": f"User {index}", "max_tokens": TOKENS, **extra})


async def send(client: AsyncClient, url: str, index: int, **extra):
    """POSTs without reading a streamed body: until it is read, the stream holds its slot, as for a slow reader."""
    if "/sync/" in url:
        # A thread per request, as under a threaded server: the test AsyncClient would run every sync view on one
        # shared thread, one after the other, so they would never be in flight together.
        return await asyncio.to_thread(
            Client().post, url, data=body_of(index, **extra), content_type="application/json"
        )
    return await client.post(url, data=body_of(index, **extra), content_type="application/json")


async def read(response) -> dict:
    """The reply's JSON body, or a stream's last event (done or error)."""
    if not response.streaming:
        return response.json()
    if hasattr(response.streaming_content, "__aiter__"):
        body = b"".join([chunk async for chunk in response.streaming_content])
    else:
        body = await asyncio.to_thread(lambda: b"".join(response.streaming_content))
    return parse_sse(body)[-1][1]


async def k_running_then_m_more(k_urls: list[str], m_urls: list[str]):
    """Starts the K requests, waits until they hold every slot, sends the M others; returns both sides' replies."""
    client = AsyncClient()
    running = [asyncio.create_task(send(client, url, i)) for i, url in enumerate(k_urls)]
    cap = limits.current_cap()
    while cap.in_flight < len(k_urls):
        await asyncio.sleep(0.005)
    refused = await asyncio.gather(*(send(client, url, K + i) for i, url in enumerate(m_urls)))
    answered = await asyncio.gather(*running)
    answered_bodies = await asyncio.gather(*(read(r) for r in answered))
    return list(zip(answered, answered_bodies, strict=True)), [(r, await read(r)) for r in refused]


@pytest.mark.parametrize("url", ENDPOINTS)
async def test_k_plus_m_concurrent_requests_give_m_clear_503s_and_leave_k_complete_and_m_rejected_calls(capped, url):
    answered, refused = await k_running_then_m_more([url] * K, [url] * M)
    assert [(r.status_code, body["status"]) for r, body in answered] == [(200, "complete")] * K
    assert [r.status_code for r, _ in refused] == [503] * M
    for response, body in refused:
        assert response["Retry-After"] == "1"
        assert body["error"]["retry_after"] == 1
        assert "LLM_MAX_IN_FLIGHT=2" in body["error"]["message"]
        assert "Retry in 1 s" in body["error"]["message"]
    statuses = sorted([status async for status in LLMCall.objects.values_list("status", flat=True)])
    assert statuses == ["complete"] * K + ["rejected"] * M
    assert await Conversation.objects.acount() == K
    assert await Message.objects.acount() == 2 * K
    async for call in LLMCall.objects.filter(status="rejected"):
        assert (call.conversation_id, call.message_id, call.tokens, call.ttft_ms) == (None, None, 0, None)
        assert call.path == url.split("/")[2]
        assert call.duration_ms >= QUEUE_TIMEOUT_S * 1000 * 0.9
        assert "LLM_MAX_IN_FLIGHT=2" in call.error


async def test_a_rejected_request_never_reaches_the_llm(capped):
    before = await capped.astats()
    await k_running_then_m_more(["/api/async/stream"] * K, ["/api/async/complete"] * M)
    after = await capped.astats()
    assert after["completed"] + after["cancelled"] + after["errors"] == (
        before["completed"] + before["cancelled"] + before["errors"] + K
    )


async def test_the_cap_counts_every_path_of_the_process_together(capped):
    answered, refused = await k_running_then_m_more(
        ["/api/sync/stream", "/api/async/stream"], ["/api/sync/complete", "/api/async/complete", "/api/async/stream"]
    )
    assert [r.status_code for r, _ in answered] == [200] * K
    assert [r.status_code for r, _ in refused] == [503] * M


async def test_a_request_that_waits_for_a_slot_runs_when_one_frees_up(capped, settings):
    settings.LLM_QUEUE_TIMEOUT = 30
    client = AsyncClient()
    replies = await asyncio.gather(*(send(client, url, i) for i, url in enumerate(ENDPOINTS)))
    bodies = await asyncio.gather(*(read(r) for r in replies))
    assert [(r.status_code, body["status"]) for r, body in zip(replies, bodies, strict=True)] == [(200, "complete")] * 4
    assert await LLMCall.objects.filter(status="complete").acount() == 4


async def test_a_rejected_call_that_continued_a_conversation_is_linked_to_it(capped, settings):
    settings.LLM_MAX_IN_FLIGHT = 1
    client = AsyncClient()
    conversation = (await read(await send(client, "/api/async/complete", 0)))["conversation"]
    holder = await send(client, "/api/async/stream", 1)
    response = await send(client, "/api/async/complete", 2, conversation=conversation)
    await read(holder)
    assert response.status_code == 503
    rejected = await LLMCall.objects.aget(status="rejected")
    assert rejected.conversation_id == conversation
    assert await Message.objects.filter(conversation_id=conversation).acount() == 2


async def test_a_rejected_call_reaches_the_live_dashboards_figures(capped):
    from llm_app.dashboard.tracker import tracker

    tracker.reset()
    await k_running_then_m_more(["/api/async/stream"] * K, ["/api/async/complete"] * M)
    assert tracker.snapshot()["rejected"] == M
