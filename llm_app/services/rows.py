"""What a call writes, as SQL built from the models: the same statements for a sync cursor and an async one.

Recording writes the same few rows for every call (a conversation, the prompt, an empty answer and the
``LLMCall`` when it starts; the answer and the call's figures when it ends). Running them through the ORM costs
about a millisecond of CPU per call (query compilation, model machinery), as much as the rest of the request
together; on PostgreSQL the async path runs them on psycopg's async connections, which the ORM cannot drive.
So the statements are built here once, from the models' metadata (table and column names), and the values go
through each field's own ``pre_save`` and ``get_db_prep_save``: defaults, ``auto_now_add`` and the database's
value adaptation are the ORM's. ``tests/llm_app/services/test_rows.py`` checks the rows against the ORM.

Each write comes in twins, as everywhere in the service layer: ``write_start(cursor, ...)`` for a DB-API cursor
(Django's, on SQLite or PostgreSQL) and ``awrite_start(cursor, ...)`` for psycopg's async cursor; they differ
only by ``await``. Placeholders are ``%s``, which Django's SQLite cursor translates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model
from django.utils import timezone

from llm_app import recovery
from llm_app.models import CallPath, Conversation, Interface, LLMCall, Message, Status

# How many earlier messages of a conversation are sent back to the LLM with a new prompt.
HISTORY_MESSAGES = 20


class ConversationNotFound(LookupError):
    """Raised by a start write when the request names a conversation that does not exist."""

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
    interface: Interface = Interface.NONE  # the server interface the call runs under: where its writes run
    streamed: bool = True  # the answer comes token by token (False: whole, so its "first token" is the reply)


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> Any: ...


class AsyncCursor(Protocol):
    async def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    async def fetchone(self) -> Any: ...
    async def fetchall(self) -> Any: ...


_adapters: dict[str, BaseDatabaseWrapper] = {}


def _adapter(alias: str) -> BaseDatabaseWrapper:
    """A database wrapper for ``alias`` that is never connected: its operations adapt values to the database.

    ``connections[alias]`` is per thread, and on the event loop's thread it builds a new wrapper at every
    access; value adaptation needs no connection, so one wrapper per alias serves every thread.
    """
    adapter = _adapters.get(alias)
    if adapter is None:
        adapter = _adapters[alias] = connections.create_connection(alias)
    return adapter


def _q(name: str | None) -> str:
    assert name, "a table or column without a name"
    return f'"{name}"'  # standard SQL quoting, the same on SQLite and PostgreSQL


class _Insert:
    """``INSERT ... RETURNING pk`` of every concrete field of a model, with the ORM's values for them."""

    def __init__(self, model: type[Model]) -> None:
        meta = model._meta
        self.model = model
        self.fields: tuple[Field[Any, Any], ...] = tuple(
            f for f in meta.concrete_fields if not f.primary_key and isinstance(f, Field)
        )
        columns = ", ".join(_q(f.column) for f in self.fields)
        marks = ", ".join(["%s"] * len(self.fields))
        self.sql = f"INSERT INTO {_q(meta.db_table)} ({columns}) VALUES ({marks}) RETURNING {_q(meta.pk.column)}"

    def params(self, alias: str, **values: Any) -> list[Any]:
        instance = self.model(**values)
        connection = _adapter(alias)
        return [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in self.fields]


class _Update:
    """``UPDATE ... SET <fields> WHERE pk = %s`` with the fields' own value preparation."""

    def __init__(self, model: type[Model], names: Sequence[str]) -> None:
        meta = model._meta
        self.fields: tuple[Field[Any, Any], ...] = tuple(meta.get_field(n) for n in names)  # type: ignore[misc]
        assignments = ", ".join(f"{_q(f.column)} = %s" for f in self.fields)
        self.sql = f"UPDATE {_q(meta.db_table)} SET {assignments} WHERE {_q(meta.pk.column)} = %s"

    def params(self, alias: str, pk: int, **values: Any) -> list[Any]:
        connection = _adapter(alias)
        return [f.get_db_prep_save(values[f.name], connection) for f in self.fields] + [pk]


_CONVERSATION = _Insert(Conversation)
_MESSAGE = _Insert(Message)
_CALL = _Insert(LLMCall)
_ANSWER = _Update(Message, ["content", "status"])
_FIGURES = _Update(LLMCall, ["tokens", "ttft_ms", "duration_ms", "status", "error"])
_message, _conversation = Message._meta, Conversation._meta
_EXISTS = f"SELECT 1 FROM {_q(_conversation.db_table)} WHERE {_q(_conversation.pk.column)} = %s"
_HISTORY = (
    f"SELECT {_q('role')}, {_q('content')} FROM {_q(_message.db_table)} "
    f"WHERE {_q(_message.get_field('conversation').column)} = %s AND {_q('content')} <> '' "
    f"ORDER BY {_q('created_at')} DESC, {_q(_message.pk.column)} DESC LIMIT {HISTORY_MESSAGES}"
)


@dataclass(frozen=True, slots=True)
class Start:
    """The start of a call: what recording knows before the rows exist."""

    prompt: str
    conversation_id: int | None
    path: CallPath
    interface: Interface
    model: str
    streamed: bool = True

    def conversation(self, alias: str) -> list[Any]:
        return _CONVERSATION.params(alias, title=self.prompt[:80])

    def prompt_row(self, alias: str, conversation_id: int) -> list[Any]:
        return _MESSAGE.params(alias, conversation_id=conversation_id, role=Message.Role.USER, content=self.prompt)

    def answer_row(self, alias: str, conversation_id: int) -> list[Any]:
        return _MESSAGE.params(
            alias, conversation_id=conversation_id, role=Message.Role.ASSISTANT, content="", status=Status.STREAMING
        )

    def call_row(self, alias: str, conversation_id: int, message_id: int) -> list[Any]:
        return _CALL.params(
            alias,
            conversation_id=conversation_id,
            message_id=message_id,
            path=self.path,
            interface=self.interface,
            model=self.model,
            started_at=timezone.now(),
            streamed=self.streamed,
            status=Status.STREAMING,
            owner=recovery.owner_of_this_process(),
        )

    def record(self, conversation_id: int, message_id: int, call_id: int, history: list[Any]) -> CallRecord:
        earlier = [{"role": role, "content": content} for role, content in reversed(history)]
        return CallRecord(
            conversation_id=conversation_id,
            message_id=message_id,
            call_id=call_id,
            messages=(*earlier, {"role": "user", "content": self.prompt}),
            interface=self.interface,
            streamed=self.streamed,
        )


@dataclass(frozen=True, slots=True)
class Finish:
    """The end of a call, whatever the ending: the (partial) answer and the call's figures."""

    record: CallRecord
    content: str
    tokens: int
    ttft_ms: float | None
    duration_ms: float
    status: Status
    error: str = ""

    def answer(self, alias: str) -> list[Any]:
        return _ANSWER.params(alias, self.record.message_id, content=self.content, status=self.status)

    def figures(self, alias: str) -> list[Any]:
        return _FIGURES.params(
            alias,
            self.record.call_id,
            tokens=self.tokens,
            ttft_ms=self.ttft_ms,
            duration_ms=self.duration_ms,
            status=self.status,
            error=self.error,
        )


@dataclass(frozen=True, slots=True)
class Rejection:
    """A call turned away by the in-flight cap: only its ``LLMCall`` row, no prompt, no answer."""

    conversation_id: int | None
    path: CallPath
    interface: Interface
    model: str
    waited_ms: float
    error: str

    def call_row(self, alias: str, conversation_id: int | None) -> list[Any]:
        return _CALL.params(
            alias,
            conversation_id=conversation_id,
            message_id=None,
            path=self.path,
            interface=self.interface,
            model=self.model,
            started_at=timezone.now() - timedelta(milliseconds=self.waited_ms),
            duration_ms=self.waited_ms,
            status=Status.REJECTED,
            error=self.error,
        )


# --- the writes, sync and async twins: call them inside one transaction ------------------------------------


def write_start(cursor: Cursor, alias: str, start: Start) -> CallRecord:
    """Writes a call's start rows; raises ConversationNotFound (before writing) for an unknown conversation."""
    history: list[Any] = []
    if start.conversation_id is None:
        cursor.execute(_CONVERSATION.sql, start.conversation(alias))
        conversation_id = cursor.fetchone()[0]
    else:
        cursor.execute(_EXISTS, [start.conversation_id])
        if cursor.fetchone() is None:
            raise ConversationNotFound(start.conversation_id)
        conversation_id = start.conversation_id
        cursor.execute(_HISTORY, [conversation_id])
        history = list(cursor.fetchall())
    cursor.execute(_MESSAGE.sql, start.prompt_row(alias, conversation_id))
    cursor.fetchone()
    cursor.execute(_MESSAGE.sql, start.answer_row(alias, conversation_id))
    message_id = cursor.fetchone()[0]
    cursor.execute(_CALL.sql, start.call_row(alias, conversation_id, message_id))
    call_id = cursor.fetchone()[0]
    return start.record(conversation_id, message_id, call_id, history)


async def awrite_start(cursor: AsyncCursor, alias: str, start: Start) -> CallRecord:
    """Writes a call's start rows; raises ConversationNotFound (before writing) for an unknown conversation."""
    history: list[Any] = []
    if start.conversation_id is None:
        await cursor.execute(_CONVERSATION.sql, start.conversation(alias))
        conversation_id = (await cursor.fetchone())[0]
    else:
        await cursor.execute(_EXISTS, [start.conversation_id])
        if await cursor.fetchone() is None:
            raise ConversationNotFound(start.conversation_id)
        conversation_id = start.conversation_id
        await cursor.execute(_HISTORY, [conversation_id])
        history = list(await cursor.fetchall())
    await cursor.execute(_MESSAGE.sql, start.prompt_row(alias, conversation_id))
    await cursor.fetchone()
    await cursor.execute(_MESSAGE.sql, start.answer_row(alias, conversation_id))
    message_id = (await cursor.fetchone())[0]
    await cursor.execute(_CALL.sql, start.call_row(alias, conversation_id, message_id))
    call_id = (await cursor.fetchone())[0]
    return start.record(conversation_id, message_id, call_id, history)


def write_finish(cursor: Cursor, alias: str, finish: Finish) -> None:
    """Saves the (partial) answer and the call's figures."""
    cursor.execute(_ANSWER.sql, finish.answer(alias))
    cursor.execute(_FIGURES.sql, finish.figures(alias))


async def awrite_finish(cursor: AsyncCursor, alias: str, finish: Finish) -> None:
    """Saves the (partial) answer and the call's figures."""
    await cursor.execute(_ANSWER.sql, finish.answer(alias))
    await cursor.execute(_FIGURES.sql, finish.figures(alias))


def write_rejection(cursor: Cursor, alias: str, rejection: Rejection) -> int:
    """Writes a rejected call's row (linked to its conversation when that exists); returns its id."""
    conversation_id = None
    if rejection.conversation_id is not None:
        cursor.execute(_EXISTS, [rejection.conversation_id])
        conversation_id = rejection.conversation_id if cursor.fetchone() is not None else None
    cursor.execute(_CALL.sql, rejection.call_row(alias, conversation_id))
    return int(cursor.fetchone()[0])


async def awrite_rejection(cursor: AsyncCursor, alias: str, rejection: Rejection) -> int:
    """Writes a rejected call's row (linked to its conversation when that exists); returns its id."""
    conversation_id = None
    if rejection.conversation_id is not None:
        await cursor.execute(_EXISTS, [rejection.conversation_id])
        conversation_id = rejection.conversation_id if await cursor.fetchone() is not None else None
    await cursor.execute(_CALL.sql, rejection.call_row(alias, conversation_id))
    return int((await cursor.fetchone())[0])
