"""An ASGI handler for Django that gives an async request no thread unless the request's own code asks for one.

Use it where ``django.core.asgi.get_asgi_application`` was::

    from longrun.asgi import get_asgi_application

    application = get_asgi_application()

Why a handler. Under Django's own ``ASGIHandler`` a fully async view still costs each request a thread: the
handler sends ``request_started`` and ``request_finished`` with ``Signal.asend``, which runs every sync
receiver through ``sync_to_async``, and it closes the response with ``sync_to_async(response.close)``. Inside
the request's ``ThreadSensitiveContext`` the first such hop starts the request's own thread, and the end of
the context starts another to join it. At a thousand waiting requests that is two thousand thread starts and
a thousand idle threads, for receivers that had nothing to do. Those hops sit in ``ASGIHandler.handle``, so no
middleware, setting or signal can remove them: the handler is the place.

What this handler changes, and why each change keeps Django's behaviour:

* ``request_started``/``request_finished`` run their sync receivers on a thread only when one of them can have
  an effect there. Django's database receivers (``close_old_connections``, ``reset_queries``) act on the
  connections of the thread they run on; when that thread does not exist yet or holds no open connection (no
  sync database work happened in the request), they would do nothing, so they are skipped
  (``longrun.connections``). ``close_caches`` is skipped when no cache with a ``close()`` of its own was used,
  and ``reset_urlconf`` (it only resets a context variable) runs inline. Any other sync receiver, yours or a
  library's, makes the whole set run on the request's thread in one hop, exactly as Django does; async
  receivers are awaited as Django awaits them.
* The response is closed on the event loop when closing it runs no code of unknown cost: no resource closers
  but the request's own (which closes its in-memory body), and Django's own ``close()``. A streaming response
  over a sync iterator, a file response or a subclass with its own ``close`` is closed on the request's
  thread as before, since those closers may run arbitrary sync code (a generator's ``finally`` writing to the
  database, for instance).
* The request still runs inside a ``ThreadSensitiveContext``: it costs nothing until the request's code makes a
  thread-sensitive ``sync_to_async`` call (asgiref starts the thread on that first call), and it keeps
  Django's promise that all sync code of one request (sync middleware, sync views, the async ORM's calls)
  shares one thread and so one database connection.
* The view runs in the handler's own task, with a second task listening for ``http.disconnect`` that cancels
  the view when the client leaves, as in Django 6.x; written without ``TaskGroup`` so that it also runs on
  Python 3.10 and Django 4.2, whose handler lacks ``run_get_response`` and closes the response inside
  ``send_response`` (both are Django 5.0+'s here).

The handler also speaks the ASGI **lifespan** protocol (Django's refuses it): functions registered with
``on_startup`` run before the server takes its first request, those registered with ``on_shutdown`` after it
stopped taking them. That is where a project opens what its first users would otherwise wait for (a
connection pool, a client, a writer thread) and drains what must not be lost. uvicorn and granian send
lifespan events when asked (``--lifespan on``, ``--interface asgi``); daphne has no lifespan protocol, so under
daphne the same hooks run when Twisted's reactor starts and before it stops, once the application instances
daphne cancels on its way out have ended (their cleanup may still write: ``longrun/daphne_hooks.py``).

Unchanged: a 4xx/5xx response is still logged through ``sync_to_async(log_response, thread_sensitive=False)``
(one hop onto the loop's default executor per error response: a logging handler may send mail), and a view
that raises is turned into a response on a thread, as Django does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping
from contextlib import closing
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core import signals
from django.core.cache import caches, close_caches
from django.core.cache.backends.base import BaseCache
from django.core.exceptions import RequestAborted
from django.core.handlers import asgi as django_asgi
from django.core.handlers.base import reset_urlconf
from django.db import close_old_connections, reset_queries
from django.dispatch import Signal
from django.http import FileResponse, HttpRequest
from django.http.response import HttpResponseBase
from django.urls import get_script_prefix, set_script_prefix

from longrun.connections import housekeeping_needs_thread, track_connections

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]

Hook = Callable[[], Awaitable[None]]
_startup: list[Hook] = []
_shutdown: list[Hook] = []


def on_startup(hook: Hook) -> Hook:
    """Registers an async function to run before the server takes its first request (once per process)."""
    if hook not in _startup:
        _startup.append(hook)
    return hook


def on_shutdown(hook: Hook) -> Hook:
    """Registers an async function to run once the server stopped taking requests (once per process)."""
    if hook not in _shutdown:
        _shutdown.append(hook)
    return hook


async def run_startup() -> None:
    """Runs the startup hooks in their order; the first failure stops the start (the server reports it)."""
    for hook in list(_startup):
        await hook()


async def run_shutdown() -> None:
    """Runs every shutdown hook, in reverse order; a failing one is logged and the others still run."""
    for hook in reversed(_shutdown):
        try:
            await hook()
        except Exception:
            logger.exception("A shutdown hook failed: %r", hook)


# Receivers that act only on the calling thread's database connections.
_DATABASE_RECEIVERS = (close_old_connections, reset_queries)


def _live_receivers(signal: Signal, sender: Any) -> tuple[list[Any], list[Any]]:
    # Django >= 5.0 returns (sync receivers, async receivers); 4.2 a list, all sync (it has no async receivers).
    live = signal._live_receivers(sender)
    if isinstance(live, tuple):
        return list(live[0]), list(live[1])
    return list(live), []


def _caches_to_close() -> bool:
    return any(type(cache).close is not BaseCache.close for cache in caches.all(initialized_only=True))


def _needs_thread(receiver: Any) -> bool:
    if receiver in _DATABASE_RECEIVERS:
        return housekeeping_needs_thread()
    if receiver is close_caches:
        return _caches_to_close()
    return receiver is not reset_urlconf


async def asend_request_signal(signal: Signal, *, sender: Any, **named: Any) -> None:
    """Sends ``request_started`` or ``request_finished`` from async code, hopping to a thread only when needed.

    Either no sync receiver needs a thread, and those that have work to do run inline (the rest would do
    nothing and are skipped), or one does, and all sync receivers run on the request's thread in one
    ``sync_to_async`` call in their connection order, as ``Signal.asend`` runs them. Async receivers are then
    awaited concurrently, as ``Signal.asend`` does.
    """
    if not signal.has_listeners(sender):
        return
    sync_receivers, async_receivers = _live_receivers(signal, sender)
    if any(_needs_thread(receiver) for receiver in sync_receivers):

        def run_all() -> None:
            for receiver in sync_receivers:
                receiver(signal=signal, sender=sender, **named)

        await sync_to_async(run_all)()
    else:
        for receiver in sync_receivers:
            if receiver is reset_urlconf:
                receiver(signal=signal, sender=sender, **named)
    if async_receivers:
        await asyncio.gather(*(receiver(signal=signal, sender=sender, **named) for receiver in async_receivers))


def _closes_on_loop(closer: Callable[[], object]) -> bool:
    """Whether a response's resource closer is the request's own ``close`` with no uploaded files to close."""
    request = getattr(closer, "__self__", None)
    function = getattr(closer, "__func__", None)
    return (
        isinstance(request, HttpRequest)
        and function in (HttpRequest.close, django_asgi.ASGIRequest.close)
        and not getattr(request, "_files", None)
    )


async def aclose_response(response: HttpResponseBase) -> None:
    """Closes ``response`` as ``response.close()`` does (closers, then ``request_finished``), on the loop if it can.

    Closing runs on the request's thread, as in Django, when the response has a ``close`` of its own or a
    resource closer other than the request's ``close`` (a sync iterator's, a file's): those may run any code.
    """
    closers = response._resource_closers  # type: ignore[attr-defined]
    if type(response).close is not HttpResponseBase.close or not all(_closes_on_loop(c) for c in closers):
        await sync_to_async(response.close)()
        return
    for closer in closers:
        # HttpResponseBase.close ignores a failing closer too.
        with contextlib.suppress(Exception):
            closer()
    closers.clear()
    response.closed = True
    await asend_request_signal(signals.request_finished, sender=response._handler_class)  # type: ignore[attr-defined]


async def _aclose_content(response: HttpResponseBase) -> None:
    """Closes a streaming response's own async iterator, in this task; a no-op once it is exhausted or closed.

    ``StreamingHttpResponse.__aiter__`` wraps the content in two async generators of Django's that iterate it
    without closing it. Closing the outer one (``aclosing`` above) after a cancellation that landed on a
    ``send`` leaves the content suspended at a ``yield``: its ``finally`` (a partial answer to save, an upstream
    request to close) then runs only when the garbage collector gets to it, in a task no one waits for, and
    never if the process exits first.
    """
    iterator = getattr(response, "_iterator", None)
    aclose = getattr(iterator, "aclose", None)
    if getattr(response, "is_async", False) and aclose is not None:
        await aclose()


class ASGIHandler(django_asgi.ASGIHandler):
    """Django's ASGI handler without the thread hops it makes for every request (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        # Deciding whether connection housekeeping needs a thread means knowing which threads hold connections.
        track_connections()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP and lifespan connections, not {scope['type']}.")
        # Costs nothing until the request's code hops; then gives the request's sync work one thread, as Django.
        async with ThreadSensitiveContext():
            await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serves one HTTP request: Django's ``ASGIHandler.handle`` with the signals and the close above."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        with closing(body_file):
            prefix = self._script_prefix(scope)
            # Setting asgiref's Local costs a copy of its context storage; requests almost always share one prefix.
            if get_script_prefix() != (prefix if prefix.endswith("/") else prefix + "/"):
                set_script_prefix(prefix)
            await asend_request_signal(signals.request_started, sender=self.__class__, scope=scope)
            request, error_response = self.create_request(scope, body_file)
            if request is None:
                assert error_response is not None
                body_file.close()
                await self.send_response(error_response, send)
                await aclose_response(error_response)
                return
            response = await self._respond(request, receive, send)
            if response is None:
                await asend_request_signal(signals.request_finished, sender=self.__class__)
            else:
                await aclose_response(response)

    def _script_prefix(self, scope: Scope) -> str:
        """FORCE_SCRIPT_NAME or the scope's root_path: a function of Django's ASGI module from 5.0, a method on 4.2."""
        module_level: Callable[[Scope], str] | None = getattr(django_asgi, "get_script_prefix", None)
        if module_level is not None:
            return module_level(scope)
        method: Callable[[Scope], str] = getattr(self, "get_script_prefix")  # noqa: B009
        return method(scope)

    async def _respond(self, request: HttpRequest, receive: Receive, send: Send) -> HttpResponseBase | None:
        """Gets and sends the response in this task; a client disconnect cancels it. None if none was made."""
        task = asyncio.current_task()
        assert task is not None
        serving = True
        listener_error: BaseException | None = None

        def on_listener_done(listener: asyncio.Future[None]) -> None:
            nonlocal listener_error
            if listener.cancelled():
                return
            error = listener.exception()  # retrieved even when it comes too late to matter
            if serving:
                listener_error = error
                task.cancel()

        listener = asyncio.ensure_future(self.listen_for_disconnect(receive))
        listener.add_done_callback(on_listener_done)
        response = None
        try:
            response = await self.run_get_response(request)
            await self.send_response(response, send)
        except asyncio.CancelledError:
            if listener_error is None:
                raise  # cancelled from outside (server shutdown): not ours to swallow
            if sys.version_info >= (3, 11):
                task.uncancel()
            if not isinstance(listener_error, RequestAborted):
                raise listener_error from None
        finally:
            serving = False
            listener.cancel()
        return response

    async def run_get_response(self, request: HttpRequest) -> HttpResponseBase:
        """Django's middleware chain and view for ``request`` (Django 5.0+'s method, here for 4.2 as well)."""
        response = await self.get_response_async(request)
        response._handler_class = self.__class__  # type: ignore[attr-defined]
        # ASGI servers chunk themselves: a file goes out in the handler's large chunks.
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        return response

    async def send_response(self, response: HttpResponseBase, send: Send) -> None:
        """Sends ``response`` over ASGI and leaves closing it to ``handle`` (Django 5.0+'s contract; 4.2's
        version closed it here, through a thread)."""
        headers = []
        for header, value in response.items():
            name = header.encode("ascii") if isinstance(header, str) else header
            data = value.encode("latin1") if isinstance(value, str) else value
            headers.append((bytes(name), bytes(data)))
        for cookie in response.cookies.values():
            headers.append((b"Set-Cookie", cookie.OutputString().encode("ascii")))
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        if response.streaming:
            # Consumed through __aiter__ (it maps a sync iterator too), closed by aclosing on the way out.
            parts: Any = aiter(response)  # type: ignore[arg-type]
            try:
                async with contextlib.aclosing(parts):
                    async for part in parts:
                        for chunk, _ in self.chunk_bytes(part):
                            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            finally:
                await _aclose_content(response)
            await send({"type": "http.response.body"})
        else:
            for chunk, last in self.chunk_bytes(response.content):  # type: ignore[attr-defined]
                await send({"type": "http.response.body", "body": chunk, "more_body": not last})

    async def lifespan(self, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol: the startup hooks, then (at the end) the shutdown hooks."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await run_startup()
                except Exception as exc:
                    logger.exception("A startup hook failed.")
                    await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await run_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def listen_for_disconnect(self, receive: Receive) -> None:
        """Waits for the client to leave; raises RequestAborted when it does (Django 4.2 has no such method)."""
        message = await receive()
        if message["type"] == "http.disconnect":
            raise RequestAborted()
        raise AssertionError(f"Invalid ASGI message after request body: {message['type']}")


def _hook_into_twisted() -> None:
    """Under daphne (Twisted's reactor on asyncio), runs the lifespan hooks when the reactor starts and stops."""
    if "daphne.server" not in sys.modules:
        return
    from longrun import daphne_hooks

    daphne_hooks.install(startup=run_startup, shutdown=run_shutdown)


def get_asgi_application() -> ASGIHandler:
    """Sets Django up and returns the handler: a drop-in for ``django.core.asgi.get_asgi_application()``."""
    django.setup(set_prefix=False)
    _hook_into_twisted()
    return ASGIHandler()
