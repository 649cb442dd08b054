"""The async stream's chunks as plain dicts: the SDK's decoding and errors, without a pydantic model per chunk.

The official SDK keeps the connection, the auth, the retries and the status errors (``create(stream=True)`` runs
them before the first byte of the stream). What it does per chunk is the CPU a relayed token costs: it decodes
the server-sent event, then builds a ``ChatCompletionChunk`` model from it. Measured on this machine (300
concurrent streams of 50 tokens from the simulator, client CPU only): 85-92 us a token through the SDK's models,
25-33 us through this module (``docs/benchmarks.md``). So this iterates the same stream through the SDK's own
event decoder, with its own exception mapping (a timeout is ``APITimeoutError``, a dropped connection
``APIConnectionError``), applies the SDK's own rules (``[DONE]`` ends it and drains the response for connection
reuse; an event carrying ``error`` raises ``APIError``), and hands the caller each chunk's JSON as a dict.

Those rules use two of the SDK's internals (``AsyncStream._iter_events`` and ``drain_response_async``): should
a future SDK move them, chunks come from the SDK's models (``model_dump``), slower and just as correct.
``tests/llm_app/services/test_chunks.py`` holds this to the SDK on a normal reply and on every fault the
simulator serves.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import openai

try:
    from openai._streaming_cleanup import drain_response_async
except ImportError:  # pragma: no cover (an SDK without it: the models path below)
    drain_response_async = None  # type: ignore[assignment]


def _error_message(error: Any) -> str:
    message = error.get("message") if isinstance(error, dict) else None
    return message if isinstance(message, str) and message else "An error occurred during streaming"


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


def chunk_usage_tokens(data: dict[str, Any]) -> int | None:
    """The completion tokens of a chunk carrying the usage (the last one, with ``include_usage``), else None."""
    usage = data.get("usage")
    if not usage:
        return None
    tokens = usage.get("completion_tokens")
    return int(tokens) if tokens is not None else None
