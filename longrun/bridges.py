"""Sync/async bridges for a Django project moving onto ASGI.

Each helper replaces a one-liner that looks right and has a trap:

- ``iterate_in_thread`` / ``streaming_content_for``: a sync generator in a ``StreamingHttpResponse``
  under ASGI, which Django would otherwise read whole into a list before sending anything.
- ``db_call`` / ``adb_call``: several ORM calls in one thread crossing, then the connection handed back
  instead of pinned through a long LLM await.
- ``iterate_async``: an async stream consumed from sync code on one event loop, not one loop per item.
- ``group_send`` / ``agroup_send``: Channels' ``group_send`` from either side, with errors that say the fix.

Async twins carry Django's ``a`` prefix. The module imports Channels only when a group helper is called,
so it works in projects without Channels.
"""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Generator, Iterable, Iterator
from typing import Any, Generic, Literal, Protocol, TypeVar, cast, overload

from asgiref.sync import async_to_sync, sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest

__all__ = [
    "DEFAULT_CHANNEL_LAYER",
    "ThreadIterator",
    "adapt_stream",
    "adb_call",
    "agroup_send",
    "db_call",
    "group_send",
    "is_asgi_request",
    "iterate_async",
    "iterate_in_thread",
    "streaming_content_for",
]

DEFAULT_CHANNEL_LAYER = "default"  # Channels' own default alias, without importing Channels.

# TypeVar rather than PEP 695 generics: the toolkit supports Python 3.10.
T = TypeVar("T")
R = TypeVar("R")


class _Done(enum.Enum):
    # The end of a sync iterator, as a value: StopIteration raised inside a coroutine turns into RuntimeError,
    # so it must never cross the thread boundary as an exception.
    DONE = enum.auto()


def _refuse_running_loop(what: str, fix: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"{what} blocks its thread, and this thread is running an event loop that it would stall. {fix}")


# --- Sync iterators served to async code -------------------------------------------------------------------


class ThreadIterator(Generic[T]):
    """An async iterator over a sync iterable, one ``next()`` per thread crossing. Made by ``iterate_in_thread``.

    ``aclose()`` (async) and ``close()`` (sync) close the sync iterator; both are idempotent. Django's
    ``StreamingHttpResponse`` calls ``close()`` when the response ends, disconnected client included.
    """

    def __init__(self, iterable: Iterable[T], *, thread_sensitive: bool = True) -> None:
        self._iterable = iterable
        self._iterator: Iterator[T] | None = None
        self._closed = False
        # next() and close() can be requested from different threads (Django calls close() through its own
        # sync_to_async; thread_sensitive=False uses a pool), and a generator must never run in two at once.
        self._lock = threading.Lock()
        self._step = sync_to_async(self._next_or_done, thread_sensitive=thread_sensitive)
        self._close_in_thread = sync_to_async(self.close, thread_sensitive=thread_sensitive)

    def __aiter__(self) -> ThreadIterator[T]:
        return self

    async def __anext__(self) -> T:
        try:
            item = await self._step()
        except BaseException:
            # Cancelled (the client went away) or the iterator raised: no more items will be asked for, so the
            # generator gets its GeneratorExit now, on its own thread, rather than from the garbage collector
            # on whichever thread happens to drop it. A next() already running finishes first: cancelling
            # sync_to_async does not interrupt the thread.
            await self.aclose()
            raise
        if item is _Done.DONE:
            raise StopAsyncIteration
        return item

    async def aclose(self) -> None:
        """Close the sync iterator in its thread, after any ``next()`` still running there returns."""
        if self._closed:
            return
        # Shielded: this often runs because the task was cancelled, and a second cancel must not skip the close.
        await asyncio.shield(asyncio.ensure_future(self._close_in_thread()))

    def close(self) -> None:
        """Close the sync iterator in the calling thread, waiting for a ``next()`` in flight elsewhere."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            target: object = self._iterator if self._iterator is not None else self._iterable
            close = getattr(target, "close", None)
            if callable(close):
                close()

    def _next_or_done(self) -> T | Literal[_Done.DONE]:
        with self._lock:
            if self._closed:
                return _Done.DONE
            if self._iterator is None:
                # iter() runs code too (a QuerySet executes its SQL here), so it belongs in the thread.
                self._iterator = iter(self._iterable)
            try:
                return next(self._iterator)
            except StopIteration:
                return _Done.DONE


def iterate_in_thread(iterable: Iterable[T], *, thread_sensitive: bool = True) -> ThreadIterator[T]:
    """Serve a sync iterable (a generator, a QuerySet) to async code one item at a time.

    Use it when a view, sync or async, streams from sync code under ASGI. Trap avoided:
    ``StreamingHttpResponse(sync_generator)`` under ASGI is read whole into a list before the first byte
    goes out ("StreamingHttpResponse must consume synchronous iterators"). Wrapped, each ``next()`` runs
    through ``sync_to_async``; the response is async and streams.

    ``thread_sensitive=True`` (the default) keeps every ``next()`` on one thread: under Django's ASGI
    handler, the request's own sync thread, the one a sync view ran in. A generator that uses the ORM, or
    anything else bound to its thread, needs that. ``False`` spreads steps over the loop's default pool,
    for thread-agnostic work only; steps never overlap either way.

    Stopping early closes the sync iterator in its thread, so a generator's ``finally`` (close the upstream
    stream, save the partial answer) runs there: on ``aclose()``, when the consuming task is cancelled (a
    client disconnect cancels Django's response task) or when ``next()`` raises; the cancellation or
    exception then propagates. Cancelling cannot interrupt a ``next()`` already running (asgiref does not
    stop sync work): the close waits until that item is produced, and the item is dropped. If you ``break``
    out of ``async for`` yourself, use ``contextlib.aclosing`` or call ``aclose()``.
    """
    return ThreadIterator(iterable, thread_sensitive=thread_sensitive)


def is_asgi_request(request: HttpRequest) -> bool:
    """Tell whether ``request`` is being served by Django's ASGI handler (``AsyncClient`` included)."""
    return isinstance(request, ASGIRequest)


@overload
def adapt_stream(iterable: Iterable[T], *, asgi: Literal[False]) -> Iterable[T]: ...
@overload
def adapt_stream(iterable: Iterable[T], *, asgi: Literal[True]) -> ThreadIterator[T]: ...
@overload
def adapt_stream(iterable: Iterable[T], *, asgi: bool) -> Iterable[T] | ThreadIterator[T]: ...
def adapt_stream(iterable: Iterable[T], *, asgi: bool) -> Iterable[T] | ThreadIterator[T]:
    """Give ``StreamingHttpResponse`` the iterator kind its server streams without buffering.

    WSGI gets the sync iterable unchanged (a WSGI server iterates it in its worker thread); ASGI gets
    ``iterate_in_thread(iterable)``. Trap avoided: the wrong kind for the server is buffered whole, under
    either server. Use ``streaming_content_for`` in a view; this form is for when the server is known.
    """
    return iterate_in_thread(iterable) if asgi else iterable


def streaming_content_for(request: HttpRequest, iterable: Iterable[T]) -> Iterable[T] | ThreadIterator[T]:
    """Wrap a sync view's generator for whichever server is serving ``request``.

    ``return StreamingHttpResponse(streaming_content_for(request, tokens()))`` streams chunk by chunk under
    both gunicorn (WSGI) and uvicorn/daphne (ASGI), so one view serves the migration's before and after.
    The server is decided once, from the request's type, not per chunk.
    """
    return adapt_stream(iterable, asgi=is_asgi_request(request))


# --- The ORM from async code ------------------------------------------------------------------------------


def _connections_outside_atomic() -> list[BaseDatabaseWrapper]:
    # The thread may be a sync caller's own (async_to_sync runs thread-sensitive work back in its caller's
    # thread), and closing a connection inside its atomic() block would break that transaction.
    return [conn for conn in connections.all(initialized_only=True) if not conn.in_atomic_block]


def _run_with_fresh_connection(func: Callable[[], R], release: bool) -> R:
    for conn in _connections_outside_atomic():
        # close_old_connections(): a thread that outlives requests can hold a dead or over-age connection.
        conn.close_if_unusable_or_obsolete()
    try:
        return func()
    finally:
        if release:
            for conn in _connections_outside_atomic():
                conn.close()


def db_call(func: Callable[[], R], /, *, release: bool = True) -> R:
    """Run ``func`` (ORM work) in this thread, then hand the thread's database connections back.

    The sync twin of ``adb_call``, for sync code that goes on to wait a long time: a generator that saves
    a row and then streams an LLM answer for 30 s, a Celery task. Raises in a thread running an event loop,
    where the ORM cannot run: use ``await adb_call(...)`` there. See ``adb_call`` for the rest.
    """
    _refuse_running_loop("db_call()", "In async code use `await adb_call(...)`.")
    return _run_with_fresh_connection(func, release)


async def adb_call(func: Callable[[], R], /, *, release: bool = True) -> R:
    """Run a sync function of several ORM operations in one thread crossing, then release the connection.

    ``msg = await adb_call(lambda: Message.objects.create(chat=chat, text=prompt))`` from an async view.

    - One crossing: each ``a*`` ORM method is its own ``sync_to_async`` hop; a function doing all the work
      pays one, and runs thread-sensitively, on the request's sync thread, where its connection lives.
    - Release (the trap): Django closes a request's connection only when the request ends, so an async view
      that writes, awaits a 2-30 s LLM call, then writes again holds a connection (and a pool slot, on
      PostgreSQL) for the whole wait. With ``release=True`` the connection is closed (returned to the pool)
      right after ``func``; the next query opens one. Pass ``release=False`` when more queries follow at once.
      Connections inside an ``atomic()`` block are never closed, and obsolete or broken ones are dropped
      before ``func`` runs.
    - Transactions live inside ``func`` (``with transaction.atomic():``): async code cannot hold one.
    - Pass plain values in and out, never a connection or cursor: they belong to the thread that made them.
    """
    return await sync_to_async(_run_with_fresh_connection, thread_sensitive=True)(func, release)


# --- Async iterators served to sync code ------------------------------------------------------------------


def iterate_async(factory: Callable[[], AsyncIterable[T]]) -> Generator[T, None, None]:
    """Consume an async stream from sync code, yielding each item as the async side produces it.

    For a management command, a sync view or a Celery task that reads an async LLM client's stream:
    ``for chunk in iterate_async(lambda: client.stream(prompt)): ...``. ``factory`` is called on the
    iterator's loop, so clients that bind to the running loop when created work.

    Trap avoided: ``async_to_sync`` per item runs each step on a fresh event loop, while an aiohttp session
    stays bound to the loop that created it. Here one loop, in a thread of its own, drives the whole stream
    and is stopped when it ends. The stream advances only when the caller asks for the next item. Stopping
    early (``close()``, ``break`` then garbage collection) cancels whatever still runs on that loop and
    calls ``aclose()``, so the async generator's ``finally`` runs.

    In a thread with a running event loop this raises at once (the thread would block its own loop): use
    ``async for`` there. Thread-sensitive ``sync_to_async`` calls made by the stream run on asgiref's
    process-wide sync thread, not the caller's.
    """
    _refuse_running_loop("iterate_async()", "Use `async for` directly.")
    return _drive_on_own_loop(factory)


def _drive_on_own_loop(factory: Callable[[], AsyncIterable[T]]) -> Generator[T, None, None]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=_run_loop, args=(loop,), name="longrun-iterate-async", daemon=True)
    thread.start()
    iterator: AsyncIterator[T] | None = None
    try:
        iterator = _run_on(loop, _open(factory))
        while True:
            item = _run_on(loop, _anext_or_done(iterator))
            if item is _Done.DONE:
                return
            yield item
    finally:
        try:
            _run_on(loop, _shutdown(iterator))
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def _run_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, R]) -> R:
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


async def _open(factory: Callable[[], AsyncIterable[T]]) -> AsyncIterator[T]:
    return aiter(factory())


async def _anext_or_done(iterator: AsyncIterator[T]) -> T | Literal[_Done.DONE]:
    try:
        return await anext(iterator)
    except StopAsyncIteration:
        return _Done.DONE


async def _shutdown(iterator: AsyncIterator[Any] | None) -> None:
    # The loop dies with the iterator. A step abandoned by an exception in the consumer's thread may still be
    # running (aclose() on a running generator raises), and tasks the stream started would be destroyed
    # pending: cancel and await them all first.
    current = asyncio.current_task()
    leftovers = [task for task in asyncio.all_tasks() if task is not current]
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


# --- Channel layer groups ---------------------------------------------------------------------------------


class _ChannelLayer(Protocol):
    async def group_send(self, group: str, message: dict[str, Any]) -> None: ...


def _channel_layer(alias: str) -> _ChannelLayer:
    try:
        from channels.layers import get_channel_layer  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise ImproperlyConfigured("Sending to a group needs Channels: pip install channels.") from None
    layer = get_channel_layer(alias)
    if layer is None:
        raise ImproperlyConfigured(
            f"No channel layer {alias!r} is configured. Add it to settings.CHANNEL_LAYERS, e.g. "
            f'{{"{alias}": {{"BACKEND": "channels_redis.core.RedisChannelLayer",'
            ' "CONFIG": {"hosts": [REDIS_URL]}}}, '
            'or "channels.layers.InMemoryChannelLayer" for a single process (development, tests).'
        )
    return cast(_ChannelLayer, layer)


def _check_message(message: dict[str, Any]) -> None:
    # A consumer dispatches on "type"; without it the failure shows up in another process, far from the cause.
    if not isinstance(message.get("type"), str):
        raise ValueError(
            f'A group message needs a "type" naming the consumer handler (e.g. "chat.message"): {message!r}'
        )


def group_send(group: str, message: dict[str, Any], *, layer_alias: str = DEFAULT_CHANNEL_LAYER) -> None:
    """Send ``message`` to every channel in ``group``, from sync code (a sync view, a task, a command).

    Calls ``async_to_sync(layer.group_send)``: from a sync view under ASGI the send runs on the server's
    loop; elsewhere on a loop made for the call. Called from a thread that runs an event loop it raises,
    telling you to ``await agroup_send(...)`` (``async_to_sync`` there fails or would deadlock). A missing
    channel layer raises ``ImproperlyConfigured`` rather than dropping the message; a message without a
    ``"type"`` raises ``ValueError`` here rather than in the receiving consumer.
    """
    _refuse_running_loop("group_send()", "In async code use `await agroup_send(...)`.")
    _check_message(message)
    async_to_sync(_channel_layer(layer_alias).group_send)(group, message)


async def agroup_send(group: str, message: dict[str, Any], *, layer_alias: str = DEFAULT_CHANNEL_LAYER) -> None:
    """Send ``message`` to every channel in ``group`` from async code; the twin of ``group_send``."""
    _check_message(message)
    await _channel_layer(layer_alias).group_send(group, message)
