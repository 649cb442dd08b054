"""The one place that writes Conversation, Message and LLMCall rows, for every path, sync and async.

Two rules shape this module:

* A write never holds a database connection across the LLM wait. Django closes a request's connection only
  when the request ends, so a row written before a 2-30 s call and updated after it would pin a connection
  for the whole call (on PostgreSQL, 200 users on a 100-connection server: half got HTTP 500). Every write
  here hands its connection back as soon as it is done.
* On SQLite, where reopening a connection is costly and concurrent writers contend for one file lock, every
  write goes through one writer thread that keeps its own connection.

``start``/``astart`` and ``finish``/``afinish`` are twins: the sync pair is called by the sync views and the
management commands, the async pair by the async views and the consumer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from llm_app import recovery
from llm_app.dbretry import retrying
from llm_app.models import CallPath, Conversation, Interface, LLMCall, Message, Status
from llm_app.services import signals

T = TypeVar("T")

# How many earlier messages of a conversation are sent back to the LLM with a new prompt.
HISTORY_MESSAGES = 20


class ConversationNotFound(LookupError):
    """Raised by ``start``/``astart`` when the request names a conversation that does not exist."""

    def __init__(self, conversation_id: int) -> None:
        super().__init__(
            f"Conversation {conversation_id} does not exist. Omit `conversation` to start a new one, "
            "or use the id returned as `conversation` by an earlier reply."
        )
        self.conversation_id = conversation_id


@dataclass(frozen=True, slots=True)
class CallRecord:
    """The rows a started call wrote, and the messages to send to the LLM (the history, then the prompt)."""

    conversation_id: int
    message_id: int
    call_id: int
    messages: tuple[dict[str, str], ...]


# --- the writes themselves: plain sync functions, run by one of the writers below ---------------------------


def _write_start(
    *, prompt: str, conversation_id: int | None, path: CallPath, interface: Interface, model: str
) -> CallRecord:
    with transaction.atomic():
        if conversation_id is None:
            conversation = Conversation.objects.create(title=prompt[:80])
            history: list[dict[str, str]] = []
        else:
            found = Conversation.objects.filter(pk=conversation_id).first()
            if found is None:
                raise ConversationNotFound(conversation_id)
            conversation = found
            earlier = (
                Message.objects.filter(conversation=conversation)
                .exclude(content="")
                .order_by("-created_at", "-id")
                .values_list("role", "content")[:HISTORY_MESSAGES]
            )
            history = [{"role": role, "content": content} for role, content in reversed(earlier)]
        Message.objects.create(conversation=conversation, role=Message.Role.USER, content=prompt)
        answer = Message.objects.create(
            conversation=conversation, role=Message.Role.ASSISTANT, content="", status=Status.STREAMING
        )
        call = LLMCall.objects.create(
            conversation=conversation,
            message=answer,
            path=path,
            interface=interface,
            model=model,
            started_at=timezone.now(),
            status=Status.STREAMING,
            owner=recovery.owner_of_this_process(),
        )
    return CallRecord(
        conversation_id=conversation.pk,
        message_id=answer.pk,
        call_id=call.pk,
        messages=(*history, {"role": "user", "content": prompt}),
    )


def _write_finish(
    *,
    record: CallRecord,
    content: str,
    tokens: int,
    ttft_ms: float | None,
    duration_ms: float,
    status: Status,
    error: str,
) -> None:
    with transaction.atomic():
        Message.objects.filter(pk=record.message_id).update(content=content, status=status)
        LLMCall.objects.filter(pk=record.call_id).update(
            tokens=tokens, ttft_ms=ttft_ms, duration_ms=duration_ms, status=status, error=error
        )


def _write_rejected(
    *, conversation_id: int | None, path: CallPath, interface: Interface, model: str, waited_ms: float, error: str
) -> int:
    # Only the call: no prompt, no answer. It links to its conversation when the request continued one.
    conversation = Conversation.objects.filter(pk=conversation_id).first() if conversation_id is not None else None
    call = LLMCall.objects.create(
        conversation=conversation,
        message=None,
        path=path,
        interface=interface,
        model=model,
        started_at=timezone.now() - timedelta(milliseconds=waited_ms),
        duration_ms=waited_ms,
        status=Status.REJECTED,
        error=error,
    )
    return call.pk


# --- the writers ---------------------------------------------------------------------------------------------


class _SingleWriter:
    """Runs every write on one thread with one long-lived connection (SQLite)."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="longrun-db-writer")

    def _guarded(self, fn: Callable[[], T]) -> T:
        try:
            return retrying(fn)
        except Exception:
            # A broken connection must not poison every later write: the next one reopens it.
            connections[DEFAULT_DB_ALIAS].close()
            raise

    def run(self, fn: Callable[[], T]) -> T:
        try:
            future = self._executor.submit(self._guarded, fn)
        except RuntimeError:
            # The interpreter is exiting (a server stopping with sync calls in flight) and the writer takes no
            # more work; this write saves a partial answer, so it runs here, on a connection of its own.
            return _ReleasingWriter.run(fn)
        return future.result()

    async def arun(self, fn: Callable[[], T]) -> T:
        return await asyncio.wrap_future(self._executor.submit(self._guarded, fn))


class _ReleasingWriter:
    """Runs a write on the caller's thread (sync) or a pool thread (async), then hands the connection back."""

    @staticmethod
    def _released(fn: Callable[[], T]) -> T:
        try:
            return retrying(fn)
        finally:
            # With Django's psycopg pool, close() returns the connection to the pool: the caller may now wait
            # on the LLM for 30 s without holding it.
            connections[DEFAULT_DB_ALIAS].close()

    @classmethod
    def run(cls, fn: Callable[[], T]) -> T:
        return cls._released(fn)

    async def arun(self, fn: Callable[[], T]) -> T:
        # thread_sensitive=False: writes from many requests run side by side on the default executor instead of
        # queueing behind one request's thread; each closes its connection, so no thread keeps one.
        return await sync_to_async(self._released, thread_sensitive=False)(fn)


_writer_lock = threading.Lock()
_writers: dict[str, _SingleWriter | _ReleasingWriter] = {}


def _writer() -> _SingleWriter | _ReleasingWriter:
    """Returns the writer for the current database engine, built once per engine."""
    vendor = connections[DEFAULT_DB_ALIAS].vendor
    with _writer_lock:
        if vendor not in _writers:
            _writers[vendor] = _SingleWriter() if vendor == "sqlite" else _ReleasingWriter()
        return _writers[vendor]


# --- the events (llm_app.services.signals): receivers run on the caller's thread, the event loop included ---


def _announce_start(record: CallRecord, *, path: CallPath, interface: Interface, model: str) -> None:
    signals.call_started.send(sender=CallRecord, call_id=record.call_id, path=path, interface=interface, model=model)


def _announce_finish(
    record: CallRecord, *, status: Status, ttft_ms: float | None, duration_ms: float, tokens: int
) -> None:
    signals.call_finished.send(
        sender=CallRecord,
        call_id=record.call_id,
        status=status,
        ttft_ms=ttft_ms,
        duration_ms=duration_ms,
        tokens=tokens,
    )


# --- the public twins ----------------------------------------------------------------------------------------


def start(*, prompt: str, conversation_id: int | None, path: CallPath, interface: Interface, model: str) -> CallRecord:
    """Called by sync code before the LLM call: writes the prompt, an empty answer and the LLMCall row."""
    recovery.sweeper.poke()
    record = _writer().run(
        partial(
            _write_start, prompt=prompt, conversation_id=conversation_id, path=path, interface=interface, model=model
        )
    )
    # Announced here, on the caller's thread, never from the writer thread.
    _announce_start(record, path=path, interface=interface, model=model)
    return record


async def astart(
    *, prompt: str, conversation_id: int | None, path: CallPath, interface: Interface, model: str
) -> CallRecord:
    """Called by async code before the LLM call: writes the prompt, an empty answer and the LLMCall row."""
    recovery.sweeper.poke()
    write = asyncio.ensure_future(
        _writer().arun(
            partial(
                _write_start,
                prompt=prompt,
                conversation_id=conversation_id,
                path=path,
                interface=interface,
                model=model,
            )
        )
    )
    try:
        record = await asyncio.shield(write)
    except asyncio.CancelledError:
        # The write runs on in its thread whatever happens here. Once it lands, the call is closed as cancelled,
        # in a task of its own: a second cancellation of this one (a server giving up on a slow cleanup during
        # a disconnect storm) must not leave the row "streaming" for ever.
        closing = detach(_close_cancelled_start(write, path=path, interface=interface, model=model))
        await asyncio.shield(closing)
        raise
    # On the event loop: receivers must not block (llm_app.services.signals).
    _announce_start(record, path=path, interface=interface, model=model)
    return record


async def _close_cancelled_start(
    write: asyncio.Future[CallRecord], *, path: CallPath, interface: Interface, model: str
) -> None:
    try:
        record = await write
    except Exception:  # noqa: BLE001 (nothing was written; the cancellation is what matters)
        return
    _announce_start(record, path=path, interface=interface, model=model)
    await afinish(record=record, content="", tokens=0, ttft_ms=None, duration_ms=0.0, status=Status.CANCELLED)


_detached: set[asyncio.Task[None]] = set()


def detach(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Runs ``coroutine`` as a task that no cancellation of the caller reaches, kept alive until it ends.

    For the saves a cancelled call still owes: the caller may ``await asyncio.shield(task)`` to wait for it.
    """
    task = asyncio.ensure_future(coroutine)
    _detached.add(task)
    task.add_done_callback(_detached.discard)
    return task


def finish(
    *,
    record: CallRecord,
    content: str,
    tokens: int,
    ttft_ms: float | None,
    duration_ms: float,
    status: Status,
    error: str = "",
) -> None:
    """Called by sync code when a call ends in any way: saves the (partial) answer and the call's figures."""
    _announce_finish(record, status=status, ttft_ms=ttft_ms, duration_ms=duration_ms, tokens=tokens)
    _writer().run(
        partial(
            _write_finish,
            record=record,
            content=content,
            tokens=tokens,
            ttft_ms=ttft_ms,
            duration_ms=duration_ms,
            status=status,
            error=error,
        )
    )


async def afinish(
    *,
    record: CallRecord,
    content: str,
    tokens: int,
    ttft_ms: float | None,
    duration_ms: float,
    status: Status,
    error: str = "",
) -> None:
    """Called by async code when a call ends in any way, cancellation included: saves the (partial) answer."""
    # Before the write: a cancellation of this await must not leave the call counted in flight.
    _announce_finish(record, status=status, ttft_ms=ttft_ms, duration_ms=duration_ms, tokens=tokens)
    write = _writer().arun(
        partial(
            _write_finish,
            record=record,
            content=content,
            tokens=tokens,
            ttft_ms=ttft_ms,
            duration_ms=duration_ms,
            status=status,
            error=error,
        )
    )
    # Shielded: this is often awaited while the caller is being cancelled (client disconnect, stop); a second
    # cancellation must not lose the partial answer. The write finishes even if this await is interrupted.
    await asyncio.shield(asyncio.ensure_future(write))


def reject(
    *, conversation_id: int | None, path: CallPath, interface: Interface, model: str, waited_ms: float, error: str
) -> int:
    """Records, from sync code, a call turned away by the in-flight cap: one LLMCall row, status rejected."""
    return _writer().run(
        partial(
            _write_rejected,
            conversation_id=conversation_id,
            path=path,
            interface=interface,
            model=model,
            waited_ms=waited_ms,
            error=error,
        )
    )


async def areject(
    *, conversation_id: int | None, path: CallPath, interface: Interface, model: str, waited_ms: float, error: str
) -> int:
    """Records, from async code, a call turned away by the in-flight cap: one LLMCall row, status rejected."""
    write = _writer().arun(
        partial(
            _write_rejected,
            conversation_id=conversation_id,
            path=path,
            interface=interface,
            model=model,
            waited_ms=waited_ms,
            error=error,
        )
    )
    # Shielded like afinish: the client may be gone already; the rejection is still recorded.
    return await asyncio.shield(asyncio.ensure_future(write))
