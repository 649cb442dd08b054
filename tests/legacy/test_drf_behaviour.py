"""The legacy DRF support desk and its migrated version answer alike, against the real LLM simulator, and let in
(or keep out) the same clients.

The views are called in-process with request factories under the suite's settings (both projects read
LLM_BASE_URL, LLM_MODEL and LLM_TIMEOUT from `django.conf.settings`, which the `llm` fixture points at the
simulator). Clients sign in with HTTP Basic as a real user of the test database, as the API's clients do.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.http import HttpResponseBase
from django.test import AsyncRequestFactory
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from tests.conftest import Simulator
from tests.legacy.disconnect import leave_after, upstream_cancelled
from tests.legacy.drf_after.tickets import policies as after_policies
from tests.legacy.drf_after.tickets import views as after
from tests.legacy.drf_before.tickets import policies as before_policies
from tests.legacy.drf_before.tickets import views as before

# The API's users are rows of the test database, read from the thread of each view's authentication.
pytestmark = pytest.mark.django_db(transaction=True)

TICKET = {"subject": "Cannot log in", "body": "Since this morning the app says my password is wrong."}
PASSWORD = "correct horse"


@pytest.fixture(autouse=True)
def desk(settings: Any, llm: Simulator) -> Simulator:
    """Points both projects at the fast simulator, with an empty cache (drafts and throttle counters)."""
    cache.clear()
    return llm


@pytest.fixture
async def agent() -> Any:
    return await sync_to_async(get_user_model().objects.create_user)(
        "agent", email="agent@example.com", password=PASSWORD
    )


@pytest.fixture
async def after_client() -> AsyncIterator[None]:
    """The migrated project builds its client once per process; a test's event loop ends, so close it then."""
    after.llm_client.cache_clear()
    yield
    await after.llm_client().close()
    after.llm_client.cache_clear()


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def call_before(view: Any, method: str, path: str, body: Any = None, auth: str | None = None) -> HttpResponseBase:
    """The legacy sync view, as gunicorn's worker would run it (call it in a thread from async tests)."""
    factory = APIRequestFactory()
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    if body is None:
        request = getattr(factory, method)(path, **headers)
    else:
        request = getattr(factory, method)(path, data=json.dumps(body), content_type="application/json", **headers)
    response = view.as_view()(request)
    return response.render() if isinstance(response, Response) else response


async def call_after(view: Any, method: str, path: str, body: Any = None, auth: str | None = None) -> HttpResponseBase:
    """The migrated view, awaited as Django's ASGI handler awaits it."""
    factory = AsyncRequestFactory()
    headers = {"authorization": auth} if auth else {}
    request = getattr(factory, method)(
        path, data=json.dumps(body or {}), content_type="application/json", headers=headers
    )
    handler = view.as_view() if isinstance(view, type) else view
    response = await handler(request)
    return response.render() if isinstance(response, Response) else response


def decoded(response: HttpResponseBase) -> tuple[int, Any, str | None]:
    return response.status_code, json.loads(response.content), response.get("WWW-Authenticate")


async def read_stream(response: Any) -> str:
    return b"".join([chunk async for chunk in response.streaming_content]).decode()


async def test_a_drafted_reply_is_the_same_before_and_after(agent: Any, after_client: None):
    auth = basic("agent", PASSWORD)
    old = await asyncio.to_thread(call_before, before.SuggestReplyView, "post", "/api/suggest", TICKET, auth)
    old_saved = await cache.aget(f"draft:{agent.pk}")
    await cache.aclear()
    new = await call_after(after.SuggestReplyView, "post", "/api/suggest", TICKET, auth)

    assert decoded(new) == decoded(old)
    assert old.status_code == 200 and json.loads(old.content)["draft"]
    assert await cache.aget(f"draft:{agent.pk}") == old_saved == json.loads(old.content)


async def test_the_streamed_draft_is_the_same_text_and_the_migrated_stream_is_async(agent: Any, after_client: None):
    auth = basic("agent", PASSWORD)
    old = await asyncio.to_thread(call_before, before.StreamReplyView, "post", "/api/suggest/stream", TICKET, auth)
    assert not old.is_async  # under ASGI Django would read this sync generator whole before sending a byte (LR202)
    old_text = await asyncio.to_thread(lambda: b"".join(old.streaming_content).decode())
    old_saved = await cache.aget(f"draft:{agent.pk}")
    await cache.aclear()

    new = await call_after(after.stream_reply, "post", "/api/suggest/stream", TICKET, auth)
    assert new.is_async
    chunks = [chunk async for chunk in new.streaming_content]
    assert len([c for c in chunks if c]) > 1  # token by token
    assert b"".join(chunks).decode() == old_text
    assert await cache.aget(f"draft:{agent.pk}") == old_saved == {"draft": old_text, "status": "complete"}
    whole = await call_after(after.SuggestReplyView, "post", "/api/suggest", TICKET, auth)
    assert json.loads(whole.content)["draft"] == old_text


@pytest.mark.parametrize(
    ("old_view", "new_view", "path"),
    [
        (before.SuggestReplyView, after.SuggestReplyView, "/api/suggest"),
        (before.StreamReplyView, after.stream_reply, "/api/suggest/stream"),
    ],
    ids=["adrf view", "plain async view"],
)
@pytest.mark.parametrize("auth", [None, basic("agent", "wrong password")], ids=["no credentials", "wrong password"])
async def test_a_client_the_legacy_api_refused_is_refused_alike(
    agent: Any, desk: Simulator, old_view: Any, new_view: Any, path: str, auth: str | None
):
    requests_before = await desk.astats()
    old = await asyncio.to_thread(call_before, old_view, "post", path, TICKET, auth)
    new = await call_after(new_view, "post", path, TICKET, auth)
    assert decoded(new) == decoded(old)
    assert old.status_code == 401 and decoded(old)[2] == 'Basic realm="api"'
    assert await desk.astats() == requests_before  # refused before any LLM call


@pytest.mark.parametrize(
    ("old_view", "new_view", "path"),
    [
        (before.SuggestReplyView, after.SuggestReplyView, "/api/suggest"),
        (before.StreamReplyView, after.stream_reply, "/api/suggest/stream"),
    ],
    ids=["adrf view", "plain async view"],
)
async def test_an_invalid_ticket_gets_the_same_400_before_and_after(
    agent: Any, old_view: Any, new_view: Any, path: str
):
    auth = basic("agent", PASSWORD)
    old = await asyncio.to_thread(call_before, old_view, "post", path, {"subject": "No body"}, auth)
    new = await call_after(new_view, "post", path, {"subject": "No body"}, auth)
    assert decoded(new) == decoded(old) == (400, {"body": ["This field is required."]}, None)


async def test_the_throttle_counts_requests_to_every_endpoint_alike_before_and_after(
    agent: Any, after_client: None, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(before_policies.AgentThrottle, "rate", "2/minute")
    monkeypatch.setattr(after_policies.AgentThrottle, "rate", "2/minute")
    auth = basic("agent", PASSWORD)

    def legacy_burst() -> list[int]:
        return [
            call_before(before.SuggestReplyView, "post", "/api/suggest", TICKET, auth).status_code,
            call_before(before.StreamReplyView, "post", "/api/suggest/stream", TICKET, auth).status_code,
            call_before(before.StreamReplyView, "post", "/api/suggest/stream", TICKET, auth).status_code,
        ]

    old = await asyncio.to_thread(legacy_burst)
    await cache.aclear()
    new = [
        (await call_after(after.SuggestReplyView, "post", "/api/suggest", TICKET, auth)).status_code,
        (await call_after(after.stream_reply, "post", "/api/suggest/stream", TICKET, auth)).status_code,
        (await call_after(after.stream_reply, "post", "/api/suggest/stream", TICKET, auth)).status_code,
    ]
    assert new == old == [200, 200, 429]


async def test_the_profile_stays_a_sync_drf_view_and_answers_as_before(agent: Any):
    auth = basic("agent", PASSWORD)
    old = await asyncio.to_thread(call_before, before.ProfileView, "get", "/api/me", None, auth)
    new = await asyncio.to_thread(call_before, after.ProfileView, "get", "/api/me", None, auth)
    assert decoded(new) == decoded(old)
    assert json.loads(old.content) == {
        "username": "agent",
        "email": "agent@example.com",
        "first_name": "",
        "last_name": "",
    }
    assert not getattr(after.ProfileView.as_view(), "view_is_async", False)
    assert after.SuggestReplyView.view_is_async and asyncio.iscoroutinefunction(after.stream_reply)


async def test_a_cancelled_migrated_stream_closes_the_upstream_call_and_saves_the_partial_draft(
    agent: Any, desk: Simulator, after_client: None
):
    cancelled_before = (await desk.astats())["cancelled"]
    response = await call_after(after.stream_reply, "post", "/api/suggest/stream", TICKET, basic("agent", PASSWORD))
    received = await leave_after(response, 3)  # the client leaves: Django cancels the task sending the response

    assert await cache.aget(f"draft:{agent.pk}") == {"draft": b"".join(received).decode(), "status": "cancelled"}
    assert 3 <= len(received) < desk.tokens
    assert await upstream_cancelled(desk, cancelled_before)  # the upstream request was closed


class AsyncHandlerOnDRF(APIView):
    """What a first attempt writes: an `async def` handler on DRF's own APIView."""

    permission_classes: list[Any] = []

    async def get(self, request: Any) -> Response:
        return Response({"ok": True})


@pytest.mark.filterwarnings("ignore:coroutine 'AsyncHandlerOnDRF.get' was never awaited:RuntimeWarning")
async def test_an_async_handler_on_drf_s_own_apiview_fails_because_drf_never_awaits_it():
    view = AsyncHandlerOnDRF.as_view()
    # Django sees only async handlers and awaits the view; DRF's sync dispatch then runs its authentication and
    # permission classes on the event loop, calls the handler, and gets a coroutine where a response should be.
    assert asyncio.iscoroutinefunction(view)
    with pytest.raises(AssertionError, match="but received a `<class 'coroutine'>`"):
        await view(APIRequestFactory().get("/"))
    gc.collect()  # the handler's coroutine, never awaited, is dropped here rather than in a later test
