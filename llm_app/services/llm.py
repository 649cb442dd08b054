"""The LLM service every path calls: ``complete``/``acomplete`` and ``stream``/``astream``, sync and async twins.

Read the sync and async halves side by side: apart from ``await`` and ``async for``, the async twin differs
only where cancellation can reach it. A sync call cannot be cancelled (a client that goes away under WSGI is
noticed at the next write; under ASGI the thread simply runs on), while an async call is cancelled at its
current ``await`` when the client disconnects or sends ``stop``; it then closes the upstream request and saves
the partial answer with status ``cancelled``. The async twin also reads the reply leaner: it is the path that
serves thousands of calls at once, so it reads the SDK's responses as JSON rather than through a model per
reply or per chunk (``services/upstream.py``: a third of the CPU per token); the sync twin keeps the SDK's models.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx2
import openai
from django.conf import settings

from llm_app.models import CallPath, Interface, Status
from llm_app.services import limits, recording, upstream
from llm_app.services.clients import aget_client, get_client
from llm_app.services.schemas import ChatRequest, ChatResult


@dataclass(frozen=True, slots=True)
class TokenEvent:
    text: str


@dataclass(frozen=True, slots=True)
class DoneEvent:
    result: ChatResult


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    message: str
    http_status: int
    result: ChatResult


Event = TokenEvent | DoneEvent | ErrorEvent


class UpstreamError(Exception):
    """Raised by ``complete``/``acomplete`` when the LLM call failed; the partial call is already recorded."""

    def __init__(self, *, http_status: int, message: str, result: ChatResult, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.message = message
        self.result = result
        self.retry_after = retry_after  # seconds, passed on from an upstream 429's Retry-After


def _caused_by(exc: BaseException | None, causes: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
    # The SDK's aiohttp transport reports a refused connection, and one closed mid-reply, as a ConnectTimeout;
    # the cause chain tells the truth.
    while exc is not None:
        if isinstance(exc, causes):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


_DROPPED = (
    ConnectionResetError,
    BrokenPipeError,
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientPayloadError,
    httpx2.RemoteProtocolError,
)


def retry_after(exc: BaseException) -> int | None:
    """The whole seconds an upstream 429 asked us to wait (its ``Retry-After``), or None."""
    if not isinstance(exc, openai.RateLimitError):
        return None
    value = exc.response.headers.get("retry-after", "")
    return int(value) if value.isdigit() else None


def describe_failure(exc: BaseException) -> tuple[int, str]:
    """Maps an upstream exception to the HTTP status to answer (502, 503 or 504) and a message that says what to do."""
    base = settings.LLM_BASE_URL
    if isinstance(exc, openai.RateLimitError):
        # The SDK already retried (LLM_MAX_RETRIES, honouring Retry-After); what is left is passed on as a 503.
        wait = retry_after(exc)
        when = f"retry after {wait} s" if wait is not None else "retry later"
        return 503, f"The LLM at {base} is rate-limiting this server (HTTP 429): {when}."
    if _caused_by(exc, ConnectionRefusedError):
        return (
            502,
            f"Could not reach the LLM at {base}: is it running?"
            " (./run serve starts the simulator; check LLM_BASE_URL.)",
        )
    if _caused_by(exc, _DROPPED):
        return 502, f"The LLM at {base} closed the connection before the reply ended. Try again."
    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException | TimeoutError):
        return (
            504,
            f"The LLM at {base} did not answer within LLM_TIMEOUT={settings.LLM_TIMEOUT:g}s."
            " Try again, or raise LLM_TIMEOUT.",
        )
    if isinstance(exc, openai.APIConnectionError):
        return (
            502,
            f"Could not reach the LLM at {base}: is it running?"
            " (./run serve starts the simulator; check LLM_BASE_URL.)",
        )
    if isinstance(exc, openai.APIStatusError):
        return 502, f"The LLM at {base} answered HTTP {exc.status_code}: {exc.message}"
    return 502, f"The LLM at {base} sent a broken reply ({type(exc).__name__}: {exc}). Try again."


@dataclass(slots=True)
class _Tally:
    """Counts one call's tokens and times while it runs."""

    started: float = field(default_factory=time.perf_counter)
    parts: list[str] = field(default_factory=list)
    ttft_ms: float | None = None
    usage_tokens: int | None = None

    def token(self, text: str) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = self.elapsed_ms()
        self.parts.append(text)

    def chunk(self, chunk: Any) -> str:
        """One streamed chunk: returns its text (maybe empty) and keeps the usage when the chunk carries it."""
        if chunk.usage is not None:
            self.usage_tokens = chunk.usage.completion_tokens
        if not chunk.choices:
            return ""
        return chunk.choices[0].delta.content or ""

    def chunk_data(self, data: dict[str, Any]) -> str:
        """One streamed chunk as its JSON (the async path): returns its text, keeps the usage when it carries it."""
        tokens = upstream.chunk_usage_tokens(data)
        if tokens is not None:
            self.usage_tokens = tokens
        return upstream.chunk_text(data)

    def whole_data(self, reply: dict[str, Any]) -> None:
        """A non-streamed reply as its JSON (the async path): the time to the whole reply is its first-token time."""
        tokens = upstream.chunk_usage_tokens(reply)
        if tokens is not None:
            self.usage_tokens = tokens
        self.ttft_ms = self.elapsed_ms()
        self.parts.append(upstream.reply_text(reply))

    def whole(self, reply: Any) -> None:
        """A non-streamed reply: the time to the whole reply is its first-token time."""
        text = reply.choices[0].message.content or "" if reply.choices else ""
        if reply.usage is not None:
            self.usage_tokens = reply.usage.completion_tokens
        self.ttft_ms = self.elapsed_ms()
        self.parts.append(text)

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self.started) * 1000, 1)

    def result(self, record: recording.CallRecord, status: Status) -> ChatResult:
        tokens = self.usage_tokens if self.usage_tokens is not None and status == Status.COMPLETE else len(self.parts)
        return ChatResult(
            conversation=record.conversation_id,
            message=record.message_id,
            content="".join(self.parts),
            tokens=tokens,
            ttft_ms=self.ttft_ms,
            duration_ms=self.elapsed_ms(),
            status=status,
        )


def _create_kwargs(request: ChatRequest, record: recording.CallRecord, *, stream: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"model": settings.LLM_MODEL, "messages": list(record.messages), "stream": stream}
    if request.max_tokens is not None:
        kwargs["max_tokens"] = request.max_tokens
    if stream:
        kwargs["stream_options"] = {"include_usage": True}
    return kwargs


def _start_kwargs(request: ChatRequest, path: CallPath, interface: Interface, *, streamed: bool) -> dict[str, Any]:
    return {
        "prompt": request.prompt,
        "conversation_id": request.conversation,
        "path": path,
        "interface": interface,
        "model": settings.LLM_MODEL,
        "streamed": streamed,
    }


def _reject_kwargs(
    request: ChatRequest, path: CallPath, interface: Interface, exc: limits.OverCapacity
) -> dict[str, Any]:
    return {
        "conversation_id": request.conversation,
        "path": path,
        "interface": interface,
        "model": settings.LLM_MODEL,
        "waited_ms": exc.waited_ms,
        "error": exc.message,
    }


def _take_slot(request: ChatRequest, path: CallPath, interface: Interface) -> limits.Slot:
    """A slot under LLM_MAX_IN_FLIGHT before anything is written; a call turned away is recorded as rejected."""
    try:
        return limits.take_slot()
    except limits.OverCapacity as exc:
        recording.reject(**_reject_kwargs(request, path, interface, exc))
        raise


async def _atake_slot(request: ChatRequest, path: CallPath, interface: Interface) -> limits.Slot:
    """A slot under LLM_MAX_IN_FLIGHT before anything is written; a call turned away is recorded as rejected."""
    try:
        return await limits.atake_slot()
    except limits.OverCapacity as exc:
        await recording.areject(**_reject_kwargs(request, path, interface, exc))
        raise


# --- non-streaming -------------------------------------------------------------------------------------------


def complete(*, request: ChatRequest, path: CallPath, interface: Interface) -> ChatResult:
    """One whole reply, for sync code. Raises OverCapacity or ConversationNotFound before, UpstreamError after."""
    slot = _take_slot(request, path, interface)
    try:
        return _complete(request=request, path=path, interface=interface)
    finally:
        slot.release()


def _complete(*, request: ChatRequest, path: CallPath, interface: Interface) -> ChatResult:
    record = recording.start(**_start_kwargs(request, path, interface, streamed=False))
    tally = _Tally()
    try:
        reply = get_client().chat.completions.create(**_create_kwargs(request, record, stream=False))
    except Exception as exc:
        http_status, message = describe_failure(exc)
        result = tally.result(record, Status.ERROR)
        recording.finish(record=record, result=result, error=message)
        raise UpstreamError(
            http_status=http_status, message=message, result=result, retry_after=retry_after(exc)
        ) from exc
    tally.whole(reply)
    result = tally.result(record, Status.COMPLETE)
    recording.finish(record=record, result=result)
    return result


async def acomplete(*, request: ChatRequest, path: CallPath, interface: Interface) -> ChatResult:
    """One whole reply, for async code; a cancellation (disconnect) is recorded, then re-raised."""
    slot = await _atake_slot(request, path, interface)
    try:
        return await _acomplete(request=request, path=path, interface=interface)
    finally:
        slot.release()


async def _acomplete(*, request: ChatRequest, path: CallPath, interface: Interface) -> ChatResult:
    record = await recording.astart(**_start_kwargs(request, path, interface, streamed=False))
    tally = _Tally()
    try:
        # The reply as JSON, not the SDK's model of it: the async path's CPU is its capacity (services/upstream.py).
        reply = await upstream.areply(aget_client(), _create_kwargs(request, record, stream=False))
    except asyncio.CancelledError:
        # The SDK closes the upstream request as the cancellation unwinds through it.
        await recording.afinish(record=record, result=tally.result(record, Status.CANCELLED))
        raise
    except Exception as exc:
        http_status, message = describe_failure(exc)
        result = tally.result(record, Status.ERROR)
        await recording.afinish(record=record, result=result, error=message)
        raise UpstreamError(
            http_status=http_status, message=message, result=result, retry_after=retry_after(exc)
        ) from exc
    tally.whole_data(reply)
    result = tally.result(record, Status.COMPLETE)
    await recording.afinish(record=record, result=result)
    return result


# --- streaming -----------------------------------------------------------------------------------------------


class _GenerationBase:
    """What both generations share: the request, its recorded call, its slot under the cap, and the result."""

    def __init__(
        self, *, request: ChatRequest, record: recording.CallRecord, slot: limits.Slot = limits.UNLIMITED
    ) -> None:
        self.request = request
        self.record = record
        self.result: ChatResult | None = None
        self._slot = slot

    def _closed_unstarted(self) -> ChatResult:
        """The ending of a generation closed before it was iterated (its body never ran): cancelled, empty."""
        self._slot.release()
        self.result = _Tally().result(self.record, Status.CANCELLED)
        return self.result


class Generation(_GenerationBase):
    """A sync stream of events: tokens, then one DoneEvent or ErrorEvent. ``close()`` cancels it."""

    def __init__(
        self, *, request: ChatRequest, record: recording.CallRecord, slot: limits.Slot = limits.UNLIMITED
    ) -> None:
        super().__init__(request=request, record=record, slot=slot)
        self._started = False
        # A generation dropped without being run or closed must not keep its slot under the cap for ever.
        weakref.finalize(self, slot.release)
        self._events = self._run()

    def __iter__(self) -> Iterator[Event]:
        return self

    def __next__(self) -> Event:
        self._started = True
        return next(self._events)

    def close(self) -> None:
        """Stops the stream early (a WSGI server on disconnect, the ASGI bridge): saves the partial answer."""
        if self._started:
            self._events.close()
        elif self.result is None:
            # Never iterated: the generator body (and its finally) would never run, so record it here.
            self._events.close()
            recording.finish(record=self.record, result=self._closed_unstarted())

    def _run(self) -> Generator[Event]:
        tally = _Tally()
        # Stays CANCELLED if the consumer closes this generator early (GeneratorExit at a yield).
        status, message, http_status = Status.CANCELLED, "", 0
        upstream = None
        try:
            upstream = get_client().chat.completions.create(**_create_kwargs(self.request, self.record, stream=True))
            for chunk in upstream:
                text = tally.chunk(chunk)
                if text:
                    tally.token(text)
                    yield TokenEvent(text)
            status = Status.COMPLETE
        except Exception as exc:  # noqa: BLE001 (any failure ends the call as an error, its partial text kept)
            status = Status.ERROR
            http_status, message = describe_failure(exc)
        finally:
            if upstream is not None:
                upstream.close()
            self._slot.release()
            self.result = tally.result(self.record, status)
            recording.finish(record=self.record, result=self.result, error=message)
        if status == Status.ERROR:
            yield ErrorEvent(message=message, http_status=http_status, result=self.result)
        else:
            yield DoneEvent(result=self.result)


class AsyncGeneration(_GenerationBase):
    """An async stream of events: tokens, then one DoneEvent or ErrorEvent. Cancelling the task cancels it."""

    def __init__(
        self, *, request: ChatRequest, record: recording.CallRecord, slot: limits.Slot = limits.UNLIMITED
    ) -> None:
        super().__init__(request=request, record=record, slot=slot)
        # Made at the first __anext__: until then nothing refers back to this object, so one dropped unread is
        # freed (and its finaliser run) at once rather than by a later cycle collection.
        self._events: AsyncGenerator[Event] | None = None
        # A generation dropped before it was read or closed (its response abandoned by a client that left while
        # the server was about to send it) must neither keep its slot under the cap nor stay "streaming": its
        # finaliser releases the slot and saves the call as cancelled.
        self._abandoned = weakref.finalize(self, _save_abandoned, record, slot)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        if self._events is None:
            self._abandoned.detach()
            self._events = self._run()
        return await anext(self._events)

    async def aclose(self) -> None:
        """Stops the stream early (disconnect, stop): saves the partial answer as cancelled."""
        self._abandoned.detach()
        if self._events is not None:
            await self._events.aclose()
        elif self.result is None:
            # Never iterated: the generator body (and its finally) never ran, so record it here.
            await recording.afinish(record=self.record, result=self._closed_unstarted())

    async def _run(self) -> AsyncGenerator[Event]:
        tally = _Tally()
        # Stays CANCELLED on CancelledError (disconnect, stop) or an early aclose().
        status, message, http_status = Status.CANCELLED, "", 0
        stream = None
        try:
            # Chunks as dicts, not the SDK's models: a third of the CPU per relayed token (services/upstream.py).
            stream = await upstream.astream(aget_client(), _create_kwargs(self.request, self.record, stream=True))
            async for data in upstream.achunks(stream):
                text = tally.chunk_data(data)
                if text:
                    tally.token(text)
                    yield TokenEvent(text)
            status = Status.COMPLETE
        except Exception as exc:  # noqa: BLE001 (any failure ends the call as an error, its partial text kept)
            status = Status.ERROR
            http_status, message = describe_failure(exc)
        finally:
            self._slot.release()
            self.result = tally.result(self.record, status)
            # The save starts first, in a task of its own: a second cancellation (a server giving up on a slow
            # cleanup) may interrupt the awaits below, never the save.
            save = recording.detach(recording.afinish(record=self.record, result=self.result, error=message))
            try:
                if stream is not None:
                    # Closing the response is what tells the LLM server to stop generating (and billing).
                    await asyncio.shield(stream.close())
            finally:
                await asyncio.shield(save)
        if status == Status.ERROR:
            yield ErrorEvent(message=message, http_status=http_status, result=self.result)
        else:
            yield DoneEvent(result=self.result)


def _save_abandoned(record: recording.CallRecord, slot: limits.Slot) -> None:
    """The finaliser of an ``AsyncGeneration`` dropped unread: frees its slot, saves the call as cancelled."""
    slot.release()
    result = _Tally().result(record, Status.CANCELLED)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        recording.finish(record=record, result=result)  # a thread, or the interpreter's exit
    else:
        recording.detach(recording.afinish(record=record, result=result))


def stream(*, request: ChatRequest, path: CallPath, interface: Interface) -> Generation:
    """For sync code: takes a slot and records the call now (OverCapacity, ConversationNotFound raise here)."""
    slot = _take_slot(request, path, interface)
    try:
        record = recording.start(**_start_kwargs(request, path, interface, streamed=True))
    except BaseException:
        slot.release()
        raise
    return Generation(request=request, record=record, slot=slot)


async def astream(*, request: ChatRequest, path: CallPath, interface: Interface) -> AsyncGeneration:
    """For async code: takes a slot and records the call now (OverCapacity, ConversationNotFound raise here)."""
    slot = await _atake_slot(request, path, interface)
    try:
        record = await recording.astart(**_start_kwargs(request, path, interface, streamed=True))
    except BaseException:
        slot.release()
        raise
    return AsyncGeneration(request=request, record=record, slot=slot)
