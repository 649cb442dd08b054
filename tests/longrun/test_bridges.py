"""Behaviour of longrun.bridges: each test states one promise the module's docstrings make.

Handshakes use threading/asyncio events. WAIT only bounds a wait so that a broken bridge fails the test
instead of hanging it; no test asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import pytest
from asgiref.sync import ThreadSensitiveContext, async_to_sync, sync_to_async
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIHandler
from django.db import connections, transaction
from django.http import HttpRequest, StreamingHttpResponse
from django.test import AsyncRequestFactory, RequestFactory
from django.urls import path

from longrun.bridges import (
    ThreadIterator,
    adapt_stream,
    adb_call,
    agroup_send,
    db_call,
    group_send,
    is_asgi_request,
    iterate_async,
    iterate_in_thread,
    streaming_content_for,
)

WAIT = 10.0


# --- iterate_in_thread ------------------------------------------------------------------------------------


async def test_iterate_in_thread_yields_each_item_before_the_next_is_produced() -> None:
    consumer_has_first = threading.Event()
    first_was_delivered_before_second: list[bool] = []

    def produce() -> Iterator[str]:
        yield "first"
        first_was_delivered_before_second.append(consumer_has_first.wait(WAIT))
        yield "second"

    stream = iterate_in_thread(produce())
    assert await anext(stream) == "first"
    consumer_has_first.set()
    assert await anext(stream) == "second"
    assert first_was_delivered_before_second == [True]


async def test_iterate_in_thread_runs_the_sync_iterator_off_the_event_loop_thread() -> None:
    threads: list[int] = []

    def produce() -> Iterator[int]:
        threads.append(threading.get_ident())
        yield 1

    assert [item async for item in iterate_in_thread(produce())] == [1]
    assert threads and threads[0] != threading.get_ident()


async def test_iterate_in_thread_keeps_every_next_on_the_requests_sync_thread() -> None:
    threads: list[int] = []

    def produce() -> Iterator[int]:
        for i in range(5):
            threads.append(threading.get_ident())
            yield i

    async with ThreadSensitiveContext():  # what Django's ASGI handler opens around each request
        request_thread = await sync_to_async(threading.get_ident)()
        assert [item async for item in iterate_in_thread(produce())] == [0, 1, 2, 3, 4]
    assert set(threads) == {request_thread}


async def test_iterate_in_thread_calls_iter_in_the_worker_thread() -> None:
    iter_threads: list[int] = []

    class QuerySetLike:
        def __iter__(self) -> Iterator[str]:
            iter_threads.append(threading.get_ident())
            return iter(["row"])

    assert [row async for row in iterate_in_thread(QuerySetLike())] == ["row"]
    assert iter_threads and iter_threads[0] != threading.get_ident()


async def test_iterate_in_thread_ends_cleanly_when_the_sync_iterator_is_exhausted() -> None:
    assert [item async for item in iterate_in_thread(list[int]())] == []
    assert [item async for item in iterate_in_thread(iter([1, 2]))] == [1, 2]


async def test_iterate_in_thread_propagates_the_sync_iterators_exception() -> None:
    def produce() -> Iterator[int]:
        yield 1
        raise ValueError("upstream failed")

    stream = iterate_in_thread(produce())
    assert await anext(stream) == 1
    with pytest.raises(ValueError, match="upstream failed"):
        await anext(stream)


async def test_aclose_runs_the_sync_generators_finally_in_its_worker_thread() -> None:
    item_threads: list[int] = []
    finally_threads: list[int] = []

    def produce() -> Iterator[int]:
        try:
            item_threads.append(threading.get_ident())
            yield 1
            yield 2
        finally:
            finally_threads.append(threading.get_ident())

    stream = iterate_in_thread(produce())
    assert await anext(stream) == 1
    await stream.aclose()
    assert finally_threads == item_threads
    assert finally_threads[0] != threading.get_ident()


async def test_cancelling_the_consumer_closes_the_sync_generator_after_the_running_next_returns() -> None:
    in_second_next = threading.Event()
    release_second = threading.Event()
    events: list[str] = []

    def produce() -> Iterator[str]:
        try:
            yield "first"
            in_second_next.set()
            release_second.wait(WAIT)
            events.append("produced second")
            yield "second"
            events.append("resumed after second")
        finally:
            events.append("finally")

    received: list[str] = []

    async def consume() -> None:
        async for item in iterate_in_thread(produce()):
            received.append(item)

    task = asyncio.create_task(consume())
    assert await asyncio.to_thread(in_second_next.wait, WAIT)
    task.cancel()  # while next() is blocked in the thread: the cancel cannot interrupt it
    release_second.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert received == ["first"]
    assert events == ["produced second", "finally"]


async def test_closing_the_bridge_from_sync_code_closes_the_sync_generator() -> None:
    finally_ran = threading.Event()

    def produce() -> Iterator[bytes]:
        try:
            yield b"first"
            yield b"second"
        finally:
            finally_ran.set()

    async with ThreadSensitiveContext():  # as in Django's ASGI handler, which closes the response this way
        response = StreamingHttpResponse(iterate_in_thread(produce()))
        assert await anext(aiter(response)) == b"first"
        await sync_to_async(response.close)()
    assert finally_ran.is_set()


async def test_a_closed_bridge_yields_nothing_more() -> None:
    stream = iterate_in_thread(iter([1, 2, 3]))
    assert await anext(stream) == 1
    await stream.aclose()
    assert [item async for item in stream] == []


async def test_a_streaming_response_over_the_bridge_is_async_and_not_buffered() -> None:
    response = StreamingHttpResponse(iterate_in_thread(iter([b"a", b"b"])))
    assert response.is_async
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [part async for part in response] == [b"a", b"b"]


async def test_a_plain_sync_generator_is_buffered_under_asgi_with_a_warning() -> None:
    # The trap the bridge exists for, shown once so the test above means something.
    response = StreamingHttpResponse(iter([b"a", b"b"]))
    assert not response.is_async
    with pytest.warns(Warning, match="must consume synchronous iterators"):
        assert [part async for part in response] == [b"a", b"b"]


# --- adapt_stream / streaming_content_for -----------------------------------------------------------------


def test_adapt_stream_returns_the_sync_iterable_itself_under_wsgi() -> None:
    chunks = iter([b"a"])
    assert adapt_stream(chunks, asgi=False) is chunks


def test_adapt_stream_returns_an_async_bridge_under_asgi() -> None:
    assert isinstance(adapt_stream(iter([b"a"]), asgi=True), ThreadIterator)


def test_is_asgi_request_tells_an_asgi_request_from_a_wsgi_one() -> None:
    assert is_asgi_request(AsyncRequestFactory().get("/"))
    assert not is_asgi_request(RequestFactory().get("/"))


def test_streaming_content_for_keeps_a_wsgi_response_synchronous_and_unbuffered() -> None:
    chunks = iter([b"a", b"b"])
    content = streaming_content_for(RequestFactory().get("/"), chunks)
    assert content is chunks
    response = StreamingHttpResponse(content)
    assert not response.is_async
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(response) == [b"a", b"b"]


async def test_streaming_content_for_makes_an_asgi_response_asynchronous_and_unbuffered() -> None:
    content = streaming_content_for(AsyncRequestFactory().get("/"), iter([b"a", b"b"]))
    assert isinstance(content, ThreadIterator)
    response = StreamingHttpResponse(content)
    assert response.is_async
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [part async for part in response] == [b"a", b"b"]


# --- Through Django's ASGI handler ------------------------------------------------------------------------


class _Probe:
    def __init__(self) -> None:
        self.waiting = threading.Event()
        self.go_on = threading.Event()
        self.view_thread: int | None = None
        self.events: list[object] = []


_probe = _Probe()


def _sync_streaming_view(request: HttpRequest) -> StreamingHttpResponse:
    probe = _probe
    probe.view_thread = threading.get_ident()

    def tokens() -> Iterator[bytes]:
        try:
            yield b"first"
            probe.waiting.set()
            probe.events.append(("waited", probe.go_on.wait(WAIT)))
            yield b"second"
            probe.events.append("resumed after second")
        finally:
            probe.events.append(("finally", threading.get_ident()))

    return StreamingHttpResponse(streaming_content_for(request, tokens()), content_type="text/plain")


urlpatterns = [path("stream/", _sync_streaming_view)]


@pytest.fixture
def probe(settings: Any) -> _Probe:
    global _probe
    settings.ROOT_URLCONF = __name__
    settings.MIDDLEWARE = []
    _probe = _Probe()
    return _probe


class _AsgiExchange:
    """Drives one GET /stream/ through ASGIHandler, as an ASGI server would."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()
        self.inbox.put_nowait({"type": "http.request", "body": b"", "more_body": False})
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": "/stream/", "raw_path": b"/stream/", "query_string": b"", "root_path": "",
            "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
        }  # fmt: skip
        self.task = asyncio.create_task(ASGIHandler()(scope, self.inbox.get, self.outbox.put))

    async def sent(self) -> Mapping[str, Any]:
        async with asyncio.timeout(WAIT):
            return await self.outbox.get()

    async def finished(self) -> None:
        async with asyncio.timeout(WAIT):
            await self.task


async def test_a_sync_view_streams_through_the_asgi_handler_one_chunk_at_a_time(probe: _Probe) -> None:
    exchange = _AsgiExchange()
    assert (await exchange.sent())["status"] == 200
    assert (await exchange.sent())["body"] == b"first"
    assert probe.events == []  # the generator is still waiting to produce the second chunk
    probe.go_on.set()
    assert (await exchange.sent())["body"] == b"second"
    assert (await exchange.sent()).get("more_body", False) is False
    await exchange.finished()
    assert probe.events == [("waited", True), "resumed after second", ("finally", probe.view_thread)]


async def test_a_client_disconnect_closes_the_sync_views_generator_in_the_request_thread(probe: _Probe) -> None:
    exchange = _AsgiExchange()
    assert (await exchange.sent())["status"] == 200
    assert (await exchange.sent())["body"] == b"first"
    assert await asyncio.to_thread(probe.waiting.wait, WAIT)  # next() for the second chunk is running
    exchange.inbox.put_nowait({"type": "http.disconnect"})
    async with asyncio.timeout(WAIT):
        while not exchange.task.cancelling():  # Django's TaskGroup has cancelled the response
            await asyncio.sleep(0)
    probe.go_on.set()  # lets the next() the cancel could not interrupt return
    await exchange.finished()
    assert probe.events == [("waited", True), ("finally", probe.view_thread)]
    assert exchange.outbox.empty()  # "second" was produced but never sent


# --- db_call / adb_call -----------------------------------------------------------------------------------


@pytest.fixture
def db_events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Records ("close", thread) for every database connection close, in order, beside the tests' own events."""
    events: list[tuple[str, int]] = []
    wrapper_class = type(connections["default"])
    original_close = wrapper_class.close

    def recording_close(self: Any) -> None:
        events.append(("close", threading.get_ident()))
        original_close(self)

    monkeypatch.setattr(wrapper_class, "close", recording_close)
    return events


@pytest.mark.django_db(transaction=True)
async def test_adb_call_runs_all_its_queries_in_one_thread_off_the_event_loop() -> None:
    threads: list[int] = []

    def create_and_count() -> int:
        threads.append(threading.get_ident())
        User.objects.create(username="ada")
        threads.append(threading.get_ident())
        return User.objects.count()

    assert await adb_call(create_and_count) == 1
    assert len(set(threads)) == 1 and threads[0] != threading.get_ident()


@pytest.mark.django_db(transaction=True)
async def test_adb_call_releases_the_connection_right_after_the_function(db_events: list[tuple[str, int]]) -> None:
    def create() -> None:
        User.objects.create(username="ada")
        db_events.append(("queried", threading.get_ident()))

    await adb_call(create)
    worker = next(thread for event, thread in db_events if event == "queried")
    assert db_events[db_events.index(("queried", worker)) :] == [("queried", worker), ("close", worker)]


@pytest.mark.django_db(transaction=True)
async def test_adb_call_keeps_the_connection_when_release_is_false(db_events: list[tuple[str, int]]) -> None:
    def create() -> None:
        User.objects.create(username="ada")
        db_events.append(("queried", threading.get_ident()))

    await adb_call(create, release=False)
    assert db_events[-1][0] == "queried"


@pytest.mark.django_db(transaction=True)
async def test_adb_call_releases_the_connection_when_the_function_raises(db_events: list[tuple[str, int]]) -> None:
    def fail() -> None:
        User.objects.count()
        db_events.append(("queried", threading.get_ident()))
        raise LookupError("no such chat")

    with pytest.raises(LookupError, match="no such chat"):
        await adb_call(fail)
    assert db_events[-1] == ("close", db_events[-2][1])


@pytest.mark.django_db
def test_db_call_leaves_a_connection_inside_an_atomic_block_open(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []
    wrapper_class = type(connections["default"])
    original_close = wrapper_class.close

    def recording_close(self: Any) -> None:
        closed.append(self.alias)
        original_close(self)

    monkeypatch.setattr(wrapper_class, "close", recording_close)
    with transaction.atomic():
        assert db_call(lambda: User.objects.create(username="ada").pk) is not None
        # Other aliases' connections, outside any atomic block, are handed back as usual.
        assert "default" not in closed
        assert User.objects.filter(username="ada").exists()


async def test_db_call_raises_a_clear_error_inside_a_running_event_loop() -> None:
    with pytest.raises(RuntimeError, match=r"await adb_call\(\.\.\.\)"):
        db_call(lambda: None)


# --- iterate_async ----------------------------------------------------------------------------------------


def test_iterate_async_yields_each_item_as_the_async_side_produces_it() -> None:
    consumer_has_first = threading.Event()
    first_was_delivered_before_second: list[bool] = []

    async def produce() -> AsyncIterator[str]:
        yield "first"
        first_was_delivered_before_second.append(await asyncio.to_thread(consumer_has_first.wait, WAIT))
        yield "second"

    stream = iterate_async(produce)
    assert next(stream) == "first"
    consumer_has_first.set()
    assert next(stream) == "second"
    assert list(stream) == []
    assert first_was_delivered_before_second == [True]


def test_iterate_async_drives_every_step_on_one_event_loop_in_another_thread() -> None:
    steps: list[tuple[asyncio.AbstractEventLoop, int]] = []

    async def produce() -> AsyncIterator[int]:
        for i in range(3):
            steps.append((asyncio.get_running_loop(), threading.get_ident()))
            yield i

    assert list(iterate_async(produce)) == [0, 1, 2]
    assert len(set(steps)) == 1
    assert steps[0][1] != threading.get_ident()


def test_iterate_async_calls_the_factory_on_the_loop_that_drives_the_stream() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    def factory() -> AsyncIterator[int]:
        loops.append(asyncio.get_running_loop())  # where an aiohttp session would bind

        async def produce() -> AsyncIterator[int]:
            loops.append(asyncio.get_running_loop())
            yield 1

        return produce()

    assert list(iterate_async(factory)) == [1]
    assert len(loops) == 2 and loops[0] is loops[1]


async def test_iterate_async_raises_a_clear_error_inside_a_running_event_loop() -> None:
    factory_calls: list[None] = []

    def factory() -> AsyncIterator[int]:
        factory_calls.append(None)
        raise AssertionError("never reached")

    with pytest.raises(RuntimeError, match="(?i)use `async for` directly"):
        iterate_async(factory)
    assert factory_calls == []


def test_closing_iterate_async_early_runs_the_async_generators_finally() -> None:
    events: list[str] = []

    async def produce() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            await asyncio.sleep(0)  # a finally may await: it runs on the stream's loop
            events.append("finally")

    stream = iterate_async(produce)
    assert next(stream) == 1
    stream.close()
    assert events == ["finally"]


def test_closing_iterate_async_early_cancels_tasks_the_stream_left_running() -> None:
    outcome: list[str] = []

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    async def produce() -> AsyncIterator[int]:
        background = asyncio.create_task(forever())
        await asyncio.sleep(0)  # let it start
        yield 1
        await background

    stream = iterate_async(produce)
    assert next(stream) == 1
    stream.close()
    assert outcome == ["cancelled"]


def test_iterate_async_propagates_the_async_sides_exception() -> None:
    async def produce() -> AsyncIterator[int]:
        yield 1
        raise ValueError("stream broke")

    stream = iterate_async(produce)
    assert next(stream) == 1
    with pytest.raises(ValueError, match="stream broke"):
        next(stream)


@pytest.mark.parametrize("stop", [list, lambda stream: (next(stream), stream.close())], ids=["exhausted", "closed"])
def test_iterate_async_stops_its_loop_thread_when_the_stream_ends(stop: Callable[[Iterator[int]], object]) -> None:
    threads: list[threading.Thread] = []

    async def produce() -> AsyncIterator[int]:
        threads.append(threading.current_thread())
        yield 1
        yield 2

    stop(iterate_async(produce))
    assert threads and not threads[0].is_alive()


# --- group_send / agroup_send -----------------------------------------------------------------------------

MESSAGE = {"type": "chat.message", "text": "hello"}


@pytest.fixture
def layer(settings: Any) -> Any:
    from channels.layers import get_channel_layer

    # Changing the setting makes Channels drop its cached layers (channel_layers.backends), now and on restore.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return get_channel_layer()


def test_group_send_delivers_to_a_group_member_from_sync_code(layer: Any) -> None:
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("room", channel)
    group_send("room", MESSAGE)
    assert async_to_sync(layer.receive)(channel) == MESSAGE


async def test_group_send_from_a_sync_function_called_by_async_code_delivers(layer: Any) -> None:
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    await sync_to_async(group_send)("room", MESSAGE)  # a sync view under ASGI
    async with asyncio.timeout(WAIT):
        assert await layer.receive(channel) == MESSAGE


async def test_agroup_send_delivers_to_a_group_member(layer: Any) -> None:
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    await agroup_send("room", MESSAGE)
    async with asyncio.timeout(WAIT):
        assert await layer.receive(channel) == MESSAGE


async def test_group_send_raises_a_clear_error_inside_a_running_event_loop(layer: Any) -> None:
    with pytest.raises(RuntimeError, match=r"await agroup_send\(\.\.\.\)"):
        group_send("room", MESSAGE)


def test_group_send_without_a_channel_layer_raises_improperly_configured(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {}
    with pytest.raises(ImproperlyConfigured, match="CHANNEL_LAYERS"):
        group_send("room", MESSAGE)


async def test_agroup_send_to_an_unknown_layer_alias_raises_improperly_configured(layer: Any) -> None:
    with pytest.raises(ImproperlyConfigured, match="'events'"):
        await agroup_send("room", MESSAGE, layer_alias="events")


def test_group_send_refuses_a_message_without_a_type(layer: Any) -> None:
    with pytest.raises(ValueError, match='"type"'):
        group_send("room", {"text": "hello"})
