"""The legacy project and its migrated version answer alike, against the real LLM simulator.

The views are called in-process with Django's request factories under the suite's settings: both projects read
LLM_BASE_URL, LLM_MODEL, LLM_TIMEOUT and ANSWER_WEBHOOK from `django.conf.settings`, which the `llm` fixture
points at the simulator. The simulator is deterministic, so the same prompt gets the same text on both.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.test import AsyncRequestFactory, RequestFactory

from longrun.bridges import adapt_stream
from longrun.detector import BlockingCallError, detect_blocking
from tests.conftest import Simulator
from tests.legacy.after.chat import middleware as after_middleware
from tests.legacy.after.chat import views as after
from tests.legacy.before.chat import views as before
from tests.legacy.disconnect import leave_after, upstream_cancelled

# Neither project writes rows, but Django's request_finished receivers (response.close()) touch the connection.
pytestmark = pytest.mark.django_db(transaction=True)

PROMPT = {"prompt": "Explain ASGI", "conversation": "c1"}


@pytest.fixture(autouse=True)
def legacy_settings(settings: Any, llm: Simulator) -> Simulator:
    """Points both projects at the fast simulator, with no webhook and an empty answer store."""
    settings.ANSWER_WEBHOOK = ""
    cache.clear()
    return llm


@pytest.fixture
async def after_client() -> AsyncIterator[None]:
    """The migrated project builds its client once per process; a test's event loop ends, so close it then."""
    after.llm_client.cache_clear()
    yield
    await after.llm_client().close()
    after.llm_client.cache_clear()


def before_post(url: str, body: dict[str, Any]) -> Any:
    return RequestFactory().post(url, data=json.dumps(body), content_type="application/json")


def after_post(url: str, body: dict[str, Any]) -> Any:
    return AsyncRequestFactory().post(url, data=json.dumps(body), content_type="application/json")


def run_before_stream(body: dict[str, Any]) -> list[bytes]:
    """The legacy sync view and its sync generator, read to the end (in a worker thread)."""
    response = before.stream(before_post("/chat/stream", body))
    assert not response.is_async
    return list(response.streaming_content)


async def test_complete_gives_the_same_answer_before_and_after(after_client: None):
    old = await asyncio.to_thread(before.complete, before_post("/chat/complete", PROMPT))
    old_saved = cache.get("answer:c1")
    cache.clear()
    new = await after.complete(after_post("/chat/complete", PROMPT))

    assert old.status_code == new.status_code == 200
    assert json.loads(new.content) == json.loads(old.content)
    assert json.loads(new.content)["content"]
    assert await cache.aget("answer:c1") == old_saved == json.loads(old.content)


async def test_the_stream_sends_the_same_text_before_and_after_and_the_migrated_one_is_async(after_client: None):
    old_chunks = await asyncio.to_thread(run_before_stream, PROMPT)
    old_saved = cache.get("answer:c1")
    cache.clear()
    response = await after.stream(after_post("/chat/stream", PROMPT))
    assert response.is_async  # under ASGI Django sends each chunk as it comes, instead of buffering a sync one
    new_chunks = [chunk async for chunk in response.streaming_content]

    assert b"".join(new_chunks) == b"".join(old_chunks)
    assert len([c for c in new_chunks if c]) > 1  # token by token, not one block
    assert (
        await cache.aget("answer:c1") == old_saved == {"content": b"".join(old_chunks).decode(), "status": "complete"}
    )
    whole = await after.complete(after_post("/chat/complete", PROMPT))
    assert json.loads(whole.content)["content"] == b"".join(new_chunks).decode()


async def test_last_answer_reads_back_what_the_migrated_views_saved(after_client: None):
    await after.complete(after_post("/chat/complete", PROMPT))
    response = await after.last_answer(AsyncRequestFactory().get("/chat/last", {"conversation": "c1"}))
    assert json.loads(response.content) == await cache.aget("answer:c1")
    assert json.loads(response.content)["status"] == "complete"


async def test_a_cancelled_migrated_stream_closes_the_upstream_call_and_saves_the_partial_answer(
    after_client: None, legacy_settings: Simulator
):
    cancelled_before = (await legacy_settings.astats())["cancelled"]
    response = await after.stream(after_post("/chat/stream", PROMPT))
    received = await leave_after(response, 3)  # the client leaves: Django cancels the task sending the response

    saved = await cache.aget("answer:c1")
    assert saved == {"content": b"".join(received).decode(), "status": "cancelled"}
    assert 3 <= len(received) < legacy_settings.tokens
    assert await upstream_cancelled(legacy_settings, cancelled_before)  # the upstream request was closed


def test_a_legacy_stream_closed_early_saves_nothing():
    # What a client that leaves mid-answer does to the legacy view (the WSGI server closes the response).
    response = before.stream(before_post("/chat/stream", PROMPT))
    chunks = iter(response.streaming_content)
    next(chunks), next(chunks)
    response.close()
    assert cache.get("answer:c1") is None


@pytest.mark.allow_blocking  # this test runs its own detector, to show what it reports
def test_the_blocking_detector_names_the_legacy_async_view_s_sleep():
    request = AsyncRequestFactory().get("/chat/last", {"conversation": "c1"})
    with detect_blocking(), pytest.raises(BlockingCallError) as raised:
        async_to_sync(before.last_answer)(request)
    culprit = raised.value.report.culprit
    assert culprit is not None
    assert culprit.location.endswith("tests/legacy/before/chat/helpers.py:12")
    assert culprit.function == "throttle"


async def test_the_migrated_middleware_runs_in_the_mode_of_the_view_behind_it(after_client: None):
    async def async_view(request: Any) -> Any:
        return await after.last_answer(request)

    wrapped = after_middleware.timing(async_view)
    assert asyncio.iscoroutinefunction(wrapped)
    response = await wrapped(AsyncRequestFactory().get("/chat/last"))
    assert json.loads(response.content) == {"content": "", "status": "none"}
    assert int(response["X-Elapsed-Ms"]) >= 0

    sync_wrapped = after_middleware.timing(lambda request: before.JsonResponse({"ok": True}))
    assert not asyncio.iscoroutinefunction(sync_wrapped)
    assert "X-Elapsed-Ms" in sync_wrapped(RequestFactory().get("/"))


async def test_step_3_the_bridge_streams_the_legacy_sync_generator_chunk_by_chunk_under_asgi():
    # The guide's step 3: the sync view unchanged, its generator handed over one chunk at a time.
    def legacy_generator() -> Any:
        response = before.stream(before_post("/chat/stream", PROMPT))
        return response.streaming_content

    chunks = await asyncio.to_thread(legacy_generator)
    bridged = adapt_stream(chunks, asgi=True)
    assert hasattr(bridged, "__anext__")  # an async iterator: Django streams it instead of buffering it
    received = [chunk async for chunk in bridged]
    assert len([c for c in received if c]) > 1
    whole = await asyncio.to_thread(before.complete, before_post("/chat/complete", PROMPT))
    assert b"".join(received).decode() == json.loads(whole.content)["content"]
