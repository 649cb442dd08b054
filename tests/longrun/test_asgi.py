"""longrun's ASGI handler: Django's request cycle, without a thread for an async request that does no sync work."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import ThreadSensitiveContext
from django.core import signals
from django.core.asgi import get_asgi_application as django_application
from django.http import StreamingHttpResponse
from django.urls import get_urlconf

from longrun.asgi import ASGIHandler, asend_request_signal
from longrun.hops import count_hops, no_hops
from longrun.testing import asgi_request
from tests.longrun import asgi_site

ASYNC_MIDDLEWARE = [
    "longrun.middleware.SecurityMiddleware",
    "longrun.middleware.SessionMiddleware",
    "longrun.middleware.CommonMiddleware",
    "longrun.middleware.CsrfViewMiddleware",
    "longrun.middleware.AuthenticationMiddleware",
    "longrun.middleware.MessageMiddleware",
    "longrun.middleware.XFrameOptionsMiddleware",
]


@pytest.fixture
def site(settings):
    settings.ROOT_URLCONF = "tests.longrun.asgi_site"
    settings.MIDDLEWARE = ASYNC_MIDDLEWARE
    asgi_site.queried.clear()


async def test_an_async_view_is_served_with_no_thread_hop(site):
    handler = ASGIHandler()
    with no_hops():
        response = await asgi_request(handler, "GET", "/hello/")
    assert (response.status, response.body) == (200, b"hello")


async def test_an_async_stream_is_served_with_no_thread_hop(site):
    handler = ASGIHandler()
    with no_hops():
        response = await asgi_request(handler, "GET", "/stream/")
    assert response.body == b"abc"


async def test_django_s_own_handler_starts_a_thread_for_the_same_request(site):
    with count_hops() as hops:
        response = await asgi_request(django_application(), "GET", "/hello/")
    assert response.status == 200
    assert hops.sync_to_async >= 2 and hops.threads >= 1


async def test_a_sync_view_still_runs_on_a_thread_of_its_own(site):
    handler = ASGIHandler()
    with count_hops() as hops:
        response = await asgi_request(handler, "GET", "/sync/")
    assert response.body == b"hello from a thread"
    assert hops.sync_to_async >= 1


@pytest.mark.django_db(transaction=True, databases=["default", "housekeeping"])
async def test_a_connection_the_request_opened_on_its_thread_is_closed_when_it_ends(site):
    handler = ASGIHandler()
    response = await asgi_request(handler, "GET", "/query/")
    assert response.body == b"queried"
    # CONN_MAX_AGE = 0: request_finished's close_old_connections closed it, on the thread that holds it.
    [wrapper] = asgi_site.queried
    assert wrapper.connection is None


async def test_a_sync_receiver_of_its_own_is_still_sent_the_signals(site):
    sent: list[str] = []

    def started(sender, **kwargs):
        sent.append("started" if "scope" in kwargs else "?")

    def finished(sender, **kwargs):
        sent.append("finished")

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        with count_hops() as hops:
            await asgi_request(ASGIHandler(), "GET", "/hello/")
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)
    assert sent == ["started", "finished"]
    # A receiver the handler does not know may do anything: it runs on the request's thread, as in Django.
    assert hops.sync_to_async == 2


async def test_an_async_receiver_is_awaited_on_the_loop(site):
    sent: list[str] = []

    async def finished(sender, **kwargs):
        sent.append("finished")

    signals.request_finished.connect(finished)
    try:
        with no_hops():
            await asgi_request(ASGIHandler(), "GET", "/hello/")
    finally:
        signals.request_finished.disconnect(finished)
    assert sent == ["finished"]


async def test_the_urlconf_a_request_set_is_reset_when_it_finishes(site):
    from django.urls import set_urlconf

    # Inside a request's context, as the handler sends it: no thread of the request exists yet.
    async with ThreadSensitiveContext():
        set_urlconf("some.urlconf")
        with no_hops():
            await asend_request_signal(signals.request_finished, sender=ASGIHandler)
        assert get_urlconf() is None


async def test_a_failing_view_answers_500(site):
    response = await asgi_request(ASGIHandler(), "GET", "/failing/")
    assert response.status == 500


async def test_a_client_that_leaves_cancels_the_view(site, settings):
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow(request):
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    from django.urls import path

    asgi_site.urlpatterns.append(path("slow/", slow))
    try:
        handler = ASGIHandler()
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/slow/",
            "headers": [(b"host", b"127.0.0.1")],
            "query_string": b"",
        }
        disconnect = asyncio.Event()
        messages = [{"type": "http.request", "body": b""}]

        async def receive():
            if messages:
                return messages.pop()
            await disconnect.wait()
            return {"type": "http.disconnect"}

        sent: list[dict] = []

        async def send(message):
            sent.append(message)

        task = asyncio.create_task(handler(scope, receive, send))
        await asyncio.wait_for(started.wait(), 5)
        disconnect.set()
        await asyncio.wait_for(task, 5)
    finally:
        asgi_site.urlpatterns.pop()
    assert cancelled.is_set()
    assert sent == []


async def test_a_websocket_scope_is_refused_as_django_refuses_it():
    with pytest.raises(ValueError, match="only handle ASGI/HTTP"):
        await ASGIHandler()({"type": "websocket"}, None, None)


async def lifespan(handler: ASGIHandler, *messages: str) -> list[dict]:
    inbox = [{"type": message} for message in messages]
    sent: list[dict] = []

    async def receive():
        return inbox.pop(0)

    async def send(message):
        sent.append(message)

    await handler({"type": "lifespan"}, receive, send)
    return sent


@pytest.fixture
def hooks(monkeypatch):
    from longrun import asgi

    monkeypatch.setattr(asgi, "_startup", [])
    monkeypatch.setattr(asgi, "_shutdown", [])
    return asgi


async def test_the_lifespan_runs_the_startup_hooks_then_the_shutdown_hooks_in_reverse(site, hooks):
    ran: list[str] = []
    for name in ("pool", "client"):

        async def up(name=name):
            ran.append(f"start {name}")

        async def down(name=name):
            ran.append(f"stop {name}")

        hooks.on_startup(up)
        hooks.on_shutdown(down)
    sent = await lifespan(ASGIHandler(), "lifespan.startup", "lifespan.shutdown")
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert ran == ["start pool", "start client", "stop client", "stop pool"]


async def test_a_failing_startup_hook_is_reported_to_the_server(site, hooks):
    async def broken():
        raise RuntimeError("no database")

    hooks.on_startup(broken)
    sent = await lifespan(ASGIHandler(), "lifespan.startup")
    assert sent == [{"type": "lifespan.startup.failed", "message": "RuntimeError: no database"}]


async def test_a_failing_shutdown_hook_does_not_stop_the_others(site, hooks):
    ran: list[str] = []

    async def broken():
        raise RuntimeError("gone")

    async def drain():
        ran.append("drained")

    hooks.on_shutdown(drain)
    hooks.on_shutdown(broken)
    sent = await lifespan(ASGIHandler(), "lifespan.startup", "lifespan.shutdown")
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert ran == ["drained"]


async def test_the_script_prefix_is_the_scope_s_root_path_and_back_to_the_root_after(site):
    handler = ASGIHandler()
    sent: list[dict] = []
    inbox = [{"type": "http.request", "body": b""}]

    async def receive():
        return inbox.pop() if inbox else await asyncio.Event().wait()

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/app/prefix/",
        "root_path": "/app",
        "headers": [(b"host", b"127.0.0.1")],
        "query_string": b"",
    }
    await handler(scope, receive, send)
    assert sent[-1]["body"] == b"/app/"
    response = await asgi_request(handler, "GET", "/prefix/")
    assert response.body == b"/"


async def test_a_stream_cancelled_while_a_chunk_is_sent_closes_its_content_in_the_request_s_own_task(site):
    closed_in: list[asyncio.Task | None] = []

    async def content():
        try:
            yield b"a"
            yield b"b"
        finally:
            closed_in.append(asyncio.current_task())

    sending = asyncio.Event()

    async def send(message):
        if message.get("body") == b"a":  # the client is slow to take the first chunk
            sending.set()
            await asyncio.Event().wait()

    task = asyncio.ensure_future(ASGIHandler().send_response(StreamingHttpResponse(content()), send))
    await sending.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Not left to the garbage collector's finaliser, in a task of its own that nothing waits for.
    assert closed_in == [task]
