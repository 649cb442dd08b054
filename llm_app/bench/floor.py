"""A bare ASGI app with no Django that makes the same upstream call as the async views: the benchmark's floor.

Served by uvicorn beside the Django servers, it answers ``POST /api/async/stream`` (SSE in the same framing)
and ``POST /api/async/complete`` (JSON) with no middleware, no ORM and no recording, so Django's overhead shows
as the ratio between the two. The upstream call goes through the same lean SDK calls as the async views
(``llm_app/services/upstream.py``, which imports no Django). Configured by the same ``LLM_*`` environment
variables.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx2
from openai import AsyncOpenAI, DefaultAioHttpClient

from llm_app.services import upstream

Scope = dict[str, Any]
Message = dict[str, Any]

_client: AsyncOpenAI | None = None


def _get_client() -> AsyncOpenAI:
    # One client for the process: uvicorn runs one loop, so no per-loop cache is needed here.
    global _client
    if _client is None:
        limits = int(os.environ.get("LLM_MAX_CONNECTIONS", "1000"))
        timeout = httpx2.Timeout(float(os.environ.get("LLM_TIMEOUT", "60")), connect=10.0)
        _client = AsyncOpenAI(
            base_url=os.environ.get("LLM_BASE_URL", "http://127.0.0.1:9100/v1"),
            api_key=os.environ.get("LLM_API_KEY", "simulator"),
            max_retries=0,
            timeout=timeout,
            http_client=DefaultAioHttpClient(
                timeout=timeout, limits=httpx2.Limits(max_connections=limits, max_keepalive_connections=limits)
            ),
        )
    return _client


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body"):
            return body


async def _respond(send: Any, status: int, content_type: bytes, body: bytes, more: bool = False) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]})
    await send({"type": "http.response.body", "body": body, "more_body": more})


async def app(scope: Scope, receive: Any, send: Any) -> None:
    """Called by the ASGI server for each connection: lifespan, or one POST."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if _client is not None:
                    await _client.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http" or scope["path"] not in {"/api/async/stream", "/api/async/complete"}:
        await _respond(send, 404, b"text/plain", b"Not found: POST /api/async/stream or /api/async/complete.")
        return
    payload = json.loads(await _read_body(receive) or b"{}")
    kwargs: dict[str, Any] = {
        "model": os.environ.get("LLM_MODEL", "simulator"),
        "messages": [{"role": "user", "content": payload.get("prompt", "")}],
    }
    if payload.get("max_tokens"):
        kwargs["max_tokens"] = payload["max_tokens"]
    started = time.perf_counter()
    if scope["path"].endswith("/complete"):
        reply = await upstream.areply(_get_client(), kwargs)
        text = upstream.reply_text(reply)
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        body = {
            "content": text,
            "tokens": len(text.split()),
            "ttft_ms": elapsed,
            "duration_ms": elapsed,
            "status": "complete",
        }
        await _respond(send, 200, b"application/json", json.dumps(body).encode())
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    parts: list[str] = []
    stream = await upstream.astream(_get_client(), {**kwargs, "stream": True})
    try:
        async for data in upstream.achunks(stream):
            text = upstream.chunk_text(data)
            if text:
                parts.append(text)
                await send({"type": "http.response.body", "body": _sse("token", {"text": text}), "more_body": True})
    finally:
        await stream.close()
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    done = {"content": "".join(parts), "tokens": len(parts), "duration_ms": elapsed, "status": "complete"}
    await send({"type": "http.response.body", "body": _sse("done", done), "more_body": False})
