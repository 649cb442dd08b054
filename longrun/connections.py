"""Which threads hold open Django database connections, and whether connection housekeeping needs a thread hop.

Django keeps a database connection per thread. Its housekeeping receivers (``close_old_connections``,
``reset_queries``) act on the connections of the thread they run on, so Django's async code runs them through
``sync_to_async``: on the request's own thread under ASGI, on the single shared thread in a Channels consumer.
That hop is only worth making when the thread it lands on holds a connection. A request that did no sync
database work has no thread yet (a new one would hold nothing); a consumer whose process never touched the
database through that thread has nothing there to close. In both cases the receivers would do nothing, and
the hop (plus, for a request, a new thread and the thread that joins it) is pure cost.

``housekeeping_needs_thread()`` answers that question for the current task: it finds the thread a
thread-sensitive ``sync_to_async`` call would run on now, and looks whether it holds an open connection. It
knows the open connections from Django's ``connection_created`` signal, which ``track_connections()``
subscribes to (longrun's ``AppConfig.ready()`` and the ASGI handler call it). Whenever it cannot tell (an
executor it does not know, asgiref internals that moved), it answers yes: the hop Django would make.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from asgiref.sync import AsyncToSync, SyncToAsync, sync_to_async
from django.db import close_old_connections, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

_wrappers: weakref.WeakSet[BaseDatabaseWrapper] = weakref.WeakSet()
_lock = threading.Lock()
_DISPATCH_UID = "longrun.connections.track"


def _remember(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Runs on the thread that opened ``connection``, each time one is opened."""
    with _lock:
        _wrappers.add(connection)


def track_connections() -> None:
    """Starts remembering every database connection opened in this process (idempotent)."""
    connection_created.connect(_remember, dispatch_uid=_DISPATCH_UID)


def open_connections() -> list[BaseDatabaseWrapper]:
    """The connection wrappers of every thread of this process that hold an open connection now."""
    with _lock:
        wrappers = set(_wrappers)
    # The calling thread's own, in case they were opened before tracking began.
    wrappers.update(connections.all(initialized_only=True))
    return [wrapper for wrapper in wrappers if wrapper.connection is not None]


def _closable(wrapper: BaseDatabaseWrapper) -> bool:
    # Django never closes an in-memory SQLite database (closing would destroy it): housekeeping can't touch it.
    in_memory = getattr(wrapper, "is_in_memory_db", None)
    return not (wrapper.vendor == "sqlite" and in_memory is not None and in_memory())


def thread_holds_connection(ident: int | None) -> bool:
    """Whether the thread ``ident`` holds an open database connection that housekeeping could close."""
    return ident is not None and any(
        wrapper._thread_ident == ident and _closable(wrapper)  # type: ignore[attr-defined]
        for wrapper in open_connections()
    )


_UNKNOWN = object()


def _thread_sensitive_executor() -> Executor | None | object:
    """The executor a thread-sensitive ``sync_to_async`` call would use now (mirrors asgiref's choice).

    None means it would create a new one (a new thread, holding nothing); ``_UNKNOWN`` that this cannot tell.
    """
    try:
        current = getattr(AsyncToSync.executors, "current", None)
        if current:
            return current  # type: ignore[no-any-return]
        context = SyncToAsync.thread_sensitive_context.get(None)
        if context is not None:
            return SyncToAsync.context_to_thread_executor.get(context)
        loop = asyncio.get_running_loop()
        if loop in AsyncToSync.loop_thread_executors:
            return AsyncToSync.loop_thread_executors[loop]
        return SyncToAsync.single_thread_executor
    except AttributeError:
        return _UNKNOWN


def _thread_idents(executor: object) -> list[int | None] | None:
    """The threads an executor runs its work on, or None when this cannot tell."""
    if isinstance(executor, ThreadPoolExecutor):
        threads = getattr(executor, "_threads", None)
        return None if threads is None else [thread.ident for thread in set(threads)]
    work_thread = getattr(executor, "_work_thread", None)  # asgiref's CurrentThreadExecutor
    return None if work_thread is None else [work_thread.ident]


def housekeeping_needs_thread() -> bool:
    """Whether Django's connection housekeeping, run where Django would run it now, could have any effect.

    False when the thread it would run on does not exist yet or holds no open connection: the housekeeping
    would then do nothing, so it can be skipped without a hop. Call it from async code.
    """
    executor = _thread_sensitive_executor()
    if executor is None:
        return False
    idents = None if executor is _UNKNOWN else _thread_idents(executor)
    if idents is None:
        return True
    return any(thread_holds_connection(ident) for ident in idents)


async def aclose_old_connections() -> None:
    """``close_old_connections`` where a thread-sensitive ``sync_to_async`` would run it, if it could do anything.

    The drop-in for Channels' ``aclose_old_connections``: no hop when that thread holds no open connection.
    """
    if housekeeping_needs_thread():
        await sync_to_async(close_old_connections)()
