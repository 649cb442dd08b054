"""The one place that records calls (Conversation, Message and LLMCall rows) for every path, sync and async.

``start``/``astart``, ``finish``/``afinish`` and ``reject``/``areject`` are twins. What they write is
``llm_app.services.rows`` (the statements); where the write runs is ``llm_app.services.writers`` (one writer
thread on SQLite; on PostgreSQL psycopg's async pool for the async path under ASGI, Django's pool otherwise).
Neither holds a database connection across the LLM wait, and the async twins give no request a thread.

Recording announces each start and finish (``llm_app.services.signals``); the live dashboard listens.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from functools import partial
from typing import Any

from llm_app import recovery
from llm_app.models import CallPath, Interface, Status
from llm_app.services import rows, signals, writers
from llm_app.services.rows import CallRecord, ConversationNotFound, Finish, Rejection, Start
from llm_app.services.schemas import ChatResult

__all__ = [
    "CallRecord",
    "ConversationNotFound",
    "afinish",
    "areject",
    "astart",
    "detach",
    "finish",
    "reject",
    "start",
]


# --- the events: receivers run on the caller's thread, the event loop included --------------------------------


def _announce_start(record: CallRecord, start: Start) -> None:
    signals.call_started.send(
        sender=CallRecord, call_id=record.call_id, path=start.path, interface=start.interface, model=start.model
    )


def _announce_finish(finish: Finish) -> None:
    signals.call_finished.send(
        sender=CallRecord,
        call_id=finish.record.call_id,
        status=finish.status,
        ttft_ms=finish.ttft_ms,
        duration_ms=finish.duration_ms,
        tokens=finish.tokens,
        streamed=finish.record.streamed,
    )


async def _arun(interface: Interface, sync_write: Any, async_write: Any) -> Any:
    """Runs a write for async code: on the loop's own pool when there is one and the loop lives (ASGI)."""
    pool_writer = writers.async_pool_writer()
    if pool_writer is not None and interface == Interface.ASGI:
        return await pool_writer.arun(async_write, sync_write)
    # SQLite's writer thread; or, for an async view under WSGI (a new loop per request), Django's pool.
    return await writers.sync_writer().arun(sync_write)


def _finish(record: CallRecord, result: ChatResult, error: str) -> Finish:
    return Finish(
        record=record,
        content=result.content,
        tokens=result.tokens,
        ttft_ms=result.ttft_ms,
        duration_ms=result.duration_ms,
        status=result.status,
        error=error,
    )


# --- the twins ------------------------------------------------------------------------------------------------


def start(
    *,
    prompt: str,
    conversation_id: int | None,
    path: CallPath,
    interface: Interface,
    model: str,
    streamed: bool = True,
) -> CallRecord:
    """Before the LLM call, for sync code: writes the prompt, an empty answer and the LLMCall row."""
    recovery.sweeper.poke()
    begin = Start(prompt, conversation_id, path, interface, model, streamed)
    record: CallRecord = writers.sync_writer().run(partial(rows.write_start, start=begin))
    # Announced here, on the caller's thread, never from the writer thread.
    _announce_start(record, begin)
    return record


async def astart(
    *,
    prompt: str,
    conversation_id: int | None,
    path: CallPath,
    interface: Interface,
    model: str,
    streamed: bool = True,
) -> CallRecord:
    """Before the LLM call, for async code: writes the prompt, an empty answer and the LLMCall row."""
    recovery.sweeper.poke()
    begin = Start(prompt, conversation_id, path, interface, model, streamed)
    write = asyncio.ensure_future(
        _arun(interface, partial(rows.write_start, start=begin), partial(rows.awrite_start, start=begin))
    )
    try:
        record: CallRecord = await asyncio.shield(write)
    except asyncio.CancelledError:
        # The write runs on whatever happens here. Once it lands, the call is closed as cancelled, in a task of
        # its own: a second cancellation of this one (a server giving up on a slow cleanup during a disconnect
        # storm) must not leave the row "streaming" for ever.
        closing = detach(_close_cancelled_start(write, begin))
        await asyncio.shield(closing)
        raise
    # On the event loop: receivers must not block (llm_app.services.signals).
    _announce_start(record, begin)
    return record


async def _close_cancelled_start(write: asyncio.Future[CallRecord], begin: Start) -> None:
    try:
        record = await write
    except Exception:  # noqa: BLE001 (nothing was written; the cancellation is what matters)
        return
    _announce_start(record, begin)
    cancelled = ChatResult(
        conversation=record.conversation_id,
        message=record.message_id,
        content="",
        tokens=0,
        ttft_ms=None,
        duration_ms=0.0,
        status=Status.CANCELLED,
    )
    await afinish(record=record, result=cancelled)


_detached: set[asyncio.Task[None]] = set()


def detach(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Runs ``coroutine`` as a task that no cancellation of the caller reaches, kept alive until it ends.

    For the saves a cancelled call still owes: the caller may ``await asyncio.shield(task)`` to wait for it.
    """
    task = asyncio.ensure_future(coroutine)
    _detached.add(task)
    task.add_done_callback(_detached.discard)
    return task


async def asettle() -> None:
    """Waits until the saves that cancelled calls still owe on this loop (``detach``'s tasks) have run.

    A server's shutdown runs this before draining the writers: a save still on its way to a writer when the
    writer drains would land after its pool is closed, or not at all.
    """
    loop = asyncio.get_running_loop()
    while mine := [task for task in _detached if task.get_loop() is loop and not task.done()]:
        await asyncio.gather(*mine, return_exceptions=True)


def finish(*, record: CallRecord, result: ChatResult, error: str = "") -> None:
    """When a call ends in any way, for sync code: saves the (partial) answer and the call's figures."""
    end = _finish(record, result, error)
    _announce_finish(end)
    writers.sync_writer().run(partial(rows.write_finish, finish=end))


async def afinish(*, record: CallRecord, result: ChatResult, error: str = "") -> None:
    """When a call ends in any way, cancellation included, for async code: saves the (partial) answer."""
    end = _finish(record, result, error)
    # Before the write: a cancellation of this await must not leave the call counted in flight.
    _announce_finish(end)
    write = asyncio.ensure_future(
        _arun(record.interface, partial(rows.write_finish, finish=end), partial(rows.awrite_finish, finish=end))
    )
    # Shielded: this is often awaited while the caller is being cancelled (client disconnect, stop); a second
    # cancellation must not lose the partial answer. The write finishes even if this await is interrupted.
    await asyncio.shield(write)


def reject(
    *, conversation_id: int | None, path: CallPath, interface: Interface, model: str, waited_ms: float, error: str
) -> int:
    """Records, from sync code, a call turned away by the in-flight cap: one LLMCall row, status rejected."""
    rejection = Rejection(conversation_id, path, interface, model, waited_ms, error)
    call_id = int(writers.sync_writer().run(partial(rows.write_rejection, rejection=rejection)))
    _announce_rejection(call_id, rejection)
    return call_id


async def areject(
    *, conversation_id: int | None, path: CallPath, interface: Interface, model: str, waited_ms: float, error: str
) -> int:
    """Records, from async code, a call turned away by the in-flight cap: one LLMCall row, status rejected."""
    rejection = Rejection(conversation_id, path, interface, model, waited_ms, error)
    write = asyncio.ensure_future(
        _arun(
            interface,
            partial(rows.write_rejection, rejection=rejection),
            partial(rows.awrite_rejection, rejection=rejection),
        )
    )
    # Shielded like afinish: the client may be gone already; the rejection is still recorded.
    call_id = int(await asyncio.shield(write))
    _announce_rejection(call_id, rejection)
    return call_id


def _announce_rejection(call_id: int, rejection: Rejection) -> None:
    signals.call_rejected.send(
        sender=CallRecord,
        call_id=call_id,
        path=rejection.path,
        interface=rejection.interface,
        waited_ms=rejection.waited_ms,
    )
