"""The async path's LLM calls: the SDK's connection, auth, retries and errors, without its models per reply.

The async path is the one that serves thousands of calls at once, so its CPU per call is its capacity. The
official SDK keeps everything that needs care: the connection pool, the auth, the retries with backoff, the
mapping of statuses and transport failures to its exceptions. Two of its per-call costs are left out here:

* ``chat.completions.create`` runs its arguments through a recursive, annotation-driven transform, then builds
  a pydantic model of the reply. ``AsyncOpenAI.post`` (the SDK's documented way to make any request) takes the
  same body as it is, with the same retries and errors; the reply is read as JSON. Measured here (1500 calls,
  100 at a time, client CPU): 0.91-0.95 ms a call through ``create``, 0.55-0.57 ms this way.
* A stream's chunks: per chunk the SDK decodes the server-sent event, then builds a ``ChatCompletionChunk``.
  Measured (300 streams of 50 tokens): 85-92 us a token through its models, 25-33 us here. The stream is read
  through the SDK's own event decoder, with its own exception mapping (a timeout is ``APITimeoutError``, a
  dropped connection ``APIConnectionError``) and its own rules (``[DONE]`` ends it and drains the response for
  connection reuse; an event carrying ``error`` raises ``APIError``); each chunk's JSON is handed over as a dict.

Those rules use two of the SDK's internals (``AsyncStream._iter_events`` and ``drain_response_async``): should
a future SDK move them, chunks come from the SDK's models (``model_dump``), slower and just as correct.
``tests/llm_app/services/test_upstream.py`` holds this to ``create`` on a normal reply and on every fault the
simulator serves.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletionChunk

try:
    from openai._streaming_cleanup import drain_response_async
except ImportError:  # pragma: no cover (an SDK without it: the models path below)
    drain_response_async = None  # type: ignore[assignment]


def _error_message(error: Any) -> str:
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else "An error occurred during streaming"


async def areply(client: openai.AsyncOpenAI, body: dict[str, Any]) -> dict[str, Any]:
    """A non-streamed completion: the JSON of the reply; the SDK's retries and exceptions as ``create``'s."""
    response = await client.post("/chat/completions", body=body, cast_to=httpx2.Response)
    data = json.loads(response.content)
    if not isinstance(data, dict):
        raise openai.APIResponseValidationError(response=response, body=data, message="The reply is not a JSON object.")
    return data


async def astream(client: openai.AsyncOpenAI, body: dict[str, Any]) -> openai.AsyncStream[ChatCompletionChunk]:
    """A streamed completion (``body`` has ``"stream": True``), opened: its chunks come from ``achunks``."""
    return await client.post(
        "/chat/completions",
        body=body,
        cast_to=ChatCompletionChunk,
        stream=True,
        stream_cls=openai.AsyncStream[ChatCompletionChunk],
    )


async def achunks(stream: openai.AsyncStream[Any]) -> AsyncIterator[dict[str, Any]]:
    """Each chunk of ``stream`` (from ``create(stream=True)``) as the dict of its JSON; closes the stream."""
    events = getattr(stream, "_iter_events", None)
    if events is None or drain_response_async is None:
        async for chunk in stream:
            yield chunk.model_dump()
        return
    response = stream.response
    try:
        async for event in events():
            if event.data.startswith("[DONE]"):
                if response.http_version == "HTTP/1.1":
                    # The rest of the body is read so that the connection goes back to the pool.
                    await drain_response_async(response)
                break
            data = json.loads(event.data)
            if isinstance(data, dict) and data.get("error"):
                raise openai.APIError(
                    message=_error_message(data["error"]), request=response.request, body=data["error"]
                )
            yield data
    finally:
        await response.aclose()


def chunk_text(data: dict[str, Any]) -> str:
    """The text a chunk adds (maybe empty): the first choice's ``delta.content``."""
    choices = data.get("choices")
    if not choices:
        return ""
    delta = choices[0].get("delta") or {}
    return delta.get("content") or ""


def reply_text(data: dict[str, Any]) -> str:
    """The text of a whole reply: the first choice's ``message.content``."""
    choices = data.get("choices")
    if not choices:
        return ""
    message = choices[0].get("message") or {}
    return message.get("content") or ""


def chunk_usage_tokens(data: dict[str, Any]) -> int | None:
    """The completion tokens of a reply, or of the chunk carrying the usage (``include_usage``); else None."""
    usage = data.get("usage")
    if not usage:
        return None
    tokens = usage.get("completion_tokens")
    return int(tokens) if tokens is not None else None
