"""Server-Sent Events framing shared by the sync and async view modules: the same bytes on both paths."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse

from llm_app.services.llm import AsyncGeneration, DoneEvent, ErrorEvent, Event, Generation, TokenEvent


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One SSE event: a name line, one JSON data line, a blank line."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def frame(event: Event) -> bytes:
    match event:
        case TokenEvent(text=text):
            return sse("token", {"text": text})
        case DoneEvent(result=result):
            return sse("done", result.as_dict())
        case ErrorEvent(message=message):
            return sse("error", {"message": message})


def sse_events(generation: Generation) -> Iterator[bytes]:
    """The sync view's body, read one chunk at a time (by the WSGI server, or the ASGI bridge's thread)."""
    try:
        for event in generation:
            yield frame(event)
    finally:
        # Reached early when the server stops reading (client gone): the generation saves its partial answer.
        generation.close()


async def asse_events(generation: AsyncGeneration) -> AsyncIterator[bytes]:
    """The async view's body: iterated by Django's ASGI handler, cancelled by it on client disconnect."""
    try:
        async for event in generation:
            yield frame(event)
    finally:
        await generation.aclose()


def sse_response(body: Iterable[bytes] | AsyncIterable[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(body, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    # nginx and similar proxies buffer responses by default, which would undo the streaming.
    response["X-Accel-Buffering"] = "no"
    return response
