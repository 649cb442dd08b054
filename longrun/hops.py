"""Counts thread hops: each time async code hands work to a thread, and each thread it starts.

An async view or consumer that hops to a thread gives up what async was for: the hop costs CPU (a context copy,
an executor hand-off, a wake-up of the loop), and Django's first hop of a request starts that request's own
thread, so a thousand waiting requests become a thousand threads. Hops hide well: ``MiddlewareMixin`` runs
each ``process_request``/``process_response`` of an old-style middleware through ``sync_to_async``, Django's
ASGI handler runs the database's ``request_started``/``request_finished`` receivers and ``response.close`` on
the request's thread, Channels closes old database connections before each message. None of this shows in a
profile of one request; all of it shows at a thousand.

``count_hops()`` makes the hops a fact a test can assert::

    from longrun.hops import count_hops, no_hops

    async def test_the_view_holds_no_thread(async_client):
        with no_hops():  # raises AssertionError naming each hop, and how to remove it
            await async_client.post("/api/async/complete", {...}, content_type="application/json")

        with count_hops() as hops:
            await async_client.get("/admin/")  # a sync view: at least one hop
        assert hops.sync_to_async >= 1

Hops are counted on the thread that opened the block, while it is open: in async code that is the event loop's
thread, so every task of the loop counts, the request's task included, whoever started it (an ASGI server, or
``asgiref.testing.ApplicationCommunicator``, which runs the application in a context of its own). Hops made on
other threads are not counted: a thread that is itself the result of a hop shows as that one hop. Three kinds:

* ``sync_to_async``: calls of asgiref's ``SyncToAsync`` (``sync_to_async``, Channels' ``database_sync_to_async``,
  Django's ``a``-prefixed ORM methods, middleware and signal adapters);
* ``executor``: other ``loop.run_in_executor`` calls, ``asyncio.to_thread`` included (asyncio's event loop; a
  ``sync_to_async`` call is counted once, as ``sync_to_async``);
* ``thread``: ``threading.Thread.start`` calls, such as the per-request thread of Django's
  ``ThreadSensitiveContext`` and the thread that joins it at the end of the request.

The counting patches three functions for the duration of the outermost block and restores them after; it is a
test tool (a few microseconds per counted call), not something to leave on in production.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from asgiref.sync import SyncToAsync

HopKind = Literal["sync_to_async", "executor", "thread"]

# The counters open on each thread (by thread ident): a hop is recorded in every block open on its thread.
_open: dict[int, list[HopCounter]] = {}

# Where a hop comes from, and what removes it: matched against the start of the hop's target.
_MIDDLEWARE_FIX = "a MiddlewareMixin hook run on a thread: use its async-native twin from longrun.middleware"
_HANDLER_FIX = "serve with longrun.asgi.get_asgi_application(), which runs this without a thread where it can"
_FIXES: tuple[tuple[str, str], ...] = (
    ("django.middleware.", _MIDDLEWARE_FIX),
    ("django.contrib.sessions.middleware.", _MIDDLEWARE_FIX),
    ("django.contrib.auth.middleware.", _MIDDLEWARE_FIX),
    ("django.contrib.messages.middleware.", _MIDDLEWARE_FIX),
    ("django.dispatch.dispatcher.Signal.asend", "a sync receiver of request_started/request_finished: " + _HANDLER_FIX),
    ("django.http.response.HttpResponseBase.close", "response.close() on the request's thread: " + _HANDLER_FIX),
    (
        "django.db.close_old_connections",
        "Channels closes old connections before each message: add longrun.consumers.NoHopDispatchMixin",
    ),
    ("concurrent.futures.thread._worker", "a new executor thread (the first hop onto it): remove that hop"),
    ("asgiref.sync.ThreadSensitiveContext", "the join of a request's thread at its end: remove the request's hops"),
)


@dataclass(frozen=True, slots=True)
class Hop:
    """One hop: its kind and what ran on the thread (a dotted name)."""

    kind: HopKind
    target: str

    def __str__(self) -> str:
        fix = next((hint for prefix, hint in _FIXES if self.target.startswith(prefix)), "")
        return f"{self.kind}({self.target})" + (f": {fix}" if fix else "")


@dataclass(slots=True)
class HopCounter:
    """The hops counted so far, in order."""

    hops: list[Hop] = field(default_factory=list)

    @property
    def sync_to_async(self) -> int:
        return self._count("sync_to_async")

    @property
    def executor(self) -> int:
        return self._count("executor")

    @property
    def threads(self) -> int:
        return self._count("thread")

    @property
    def total(self) -> int:
        return len(self.hops)

    def _count(self, kind: HopKind) -> int:
        return sum(1 for hop in self.hops if hop.kind == kind)

    def describe(self) -> str:
        """One line per hop, with what removes it where the hop is a known one."""
        return "\n".join(f"  {hop}" for hop in self.hops)

    def assert_none(self) -> None:
        """Raises AssertionError listing every hop, when there was one."""
        if self.hops:
            raise AssertionError(
                f"{self.total} thread hop(s) where none were expected "
                f"({self.sync_to_async} sync_to_async, {self.executor} executor, {self.threads} new thread):\n"
                f"{self.describe()}"
            )


def _name(func: Any) -> str:
    """A dotted name for a callable: ``module.Qualified.name``, through partials and bound methods."""
    while hasattr(func, "func") and not hasattr(func, "__qualname__"):
        func = func.func  # functools.partial
    func = getattr(func, "__func__", func)
    module = getattr(func, "__module__", None) or type(func).__module__
    qualname = getattr(func, "__qualname__", None) or type(func).__qualname__
    return f"{module}.{qualname}"


def _record(kind: HopKind, target: Any) -> None:
    counters = _open.get(threading.get_ident())
    if counters:
        hop = Hop(kind, target if isinstance(target, str) else _name(target))
        for counter in counters:
            counter.hops.append(hop)


# --- the patches: installed while at least one block counts ----------------------------------------------------

_patch_lock = threading.Lock()
_active = 0
_originals: dict[str, Any] = {}


def _counted_sync_to_async_call(original: Callable[..., Any]) -> Callable[..., Any]:
    async def __call__(self: SyncToAsync[Any, Any], *args: Any, **kwargs: Any) -> Any:
        _record("sync_to_async", self.func)
        return await original(self, *args, **kwargs)

    return __call__


def _counted_run_in_executor(original: Callable[..., Any]) -> Callable[..., Any]:
    def run_in_executor(self: asyncio.AbstractEventLoop, executor: Any, func: Any, *args: Any) -> Any:
        # SyncToAsync reaches the executor through its own thread_handler: that hop is counted already.
        handler = getattr(getattr(func, "func", None), "__func__", None)
        if handler is not SyncToAsync.thread_handler:
            _record("executor", func)
        return original(self, executor, func, *args)

    return run_in_executor


def _counted_thread_start(original: Callable[..., Any]) -> Callable[..., Any]:
    def start(self: threading.Thread) -> None:
        target = getattr(self, "_target", None)
        _record("thread", target if target is not None else f"{type(self).__module__}.{type(self).__qualname__}")
        original(self)

    return start


_PATCHES: tuple[tuple[str, Any, str, Callable[[Callable[..., Any]], Callable[..., Any]]], ...] = (
    ("sync_to_async", SyncToAsync, "__call__", _counted_sync_to_async_call),
    ("executor", asyncio.BaseEventLoop, "run_in_executor", _counted_run_in_executor),
    ("thread", threading.Thread, "start", _counted_thread_start),
)


def _install() -> None:
    global _active
    with _patch_lock:
        if _active == 0:
            for key, owner, attribute, wrap in _PATCHES:
                _originals[key] = owner.__dict__[attribute]
                setattr(owner, attribute, wrap(_originals[key]))
        _active += 1


def _uninstall() -> None:
    global _active
    with _patch_lock:
        _active -= 1
        if _active == 0:
            for key, owner, attribute, _wrap in _PATCHES:
                setattr(owner, attribute, _originals.pop(key))


@contextmanager
def count_hops() -> Iterator[HopCounter]:
    """Counts the hops made on this thread while the block is open into the counter it yields.

    Works in sync and async code alike (``with``, not ``async with``). Blocks nest: a hop is counted in every
    block open at the time.
    """
    counter = HopCounter()
    ident = threading.get_ident()
    _install()
    with _patch_lock:
        _open.setdefault(ident, []).append(counter)
    try:
        yield counter
    finally:
        with _patch_lock:
            _open[ident].remove(counter)
            if not _open[ident]:
                del _open[ident]
        _uninstall()


@contextmanager
def no_hops() -> Iterator[HopCounter]:
    """Like ``count_hops()``, then raises AssertionError naming each hop if there was any."""
    with count_hops() as counter:
        yield counter
    counter.assert_none()
