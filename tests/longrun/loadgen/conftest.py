"""Small servers that speak the app's wire formats (JSON, SSE, the WebSocket protocol), with their failures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from websockets.asyncio.server import ServerConnection, serve

TOKENS = 5
TOKEN_S = 0.02
PAYLOAD = {"prompt": "Explain ASGI"}
ORIGIN = "http://testserver"


def done_fields(tokens: int = TOKENS, status: str = "complete") -> dict[str, Any]:
    return {
        "conversation": 1,
        "message": 2,
        "content": "word " * tokens,
        "tokens": tokens,
        "ttft_ms": 1.0,
        "duration_ms": 2.0,
        "status": status,
    }


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


@dataclass
class FakeApp:
    """An aiohttp server with the app's endpoints; counts the requests in flight and their peak."""

    url: str = ""
    delay_s: float = 0.0  # how long /complete and /slow wait before answering
    in_flight: int = 0
    max_in_flight: int = 0
    requests: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)


async def _counted(fake: FakeApp, request: web.Request) -> None:
    fake.requests += 1
    fake.bodies.append(await request.json())
    fake.in_flight += 1
    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)


def build_fake_app(fake: FakeApp) -> web.Application:
    async def complete(request: web.Request) -> web.StreamResponse:
        await _counted(fake, request)
        try:
            await asyncio.sleep(fake.delay_s)
            return web.json_response(done_fields())
        finally:
            fake.in_flight -= 1

    async def stream(request: web.Request) -> web.StreamResponse:
        await _counted(fake, request)
        try:
            mode = request.query.get("mode", "")
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(b": a comment, to be ignored\n\n")
            for n in range(TOKENS):
                await asyncio.sleep(TOKEN_S)
                await response.write(sse("token", {"text": f" w{n}"}))
            if mode == "drop":
                assert request.transport is not None
                request.transport.close()  # the connection dies mid-body: no done, no end of the chunked body
                return response
            if mode == "error":
                await response.write(sse("error", {"message": "upstream failed"}))
            elif mode != "cut":
                await response.write(sse("done", done_fields()))
            await response.write_eof()
            return response
        finally:
            fake.in_flight -= 1

    async def bad_gateway(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": {"status": 502, "message": "upstream"}}, status=502)

    async def hang_up(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    async def not_json(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    app = web.Application()
    app.router.add_post("/complete", complete)
    app.router.add_post("/stream", stream)
    app.router.add_post("/fail", bad_gateway)
    app.router.add_post("/html", not_json)
    app.router.add_post("/hang-up", hang_up)
    return app


@pytest.fixture
async def fake_app() -> AsyncIterator[FakeApp]:
    fake = FakeApp()
    runner = web.AppRunner(build_fake_app(fake))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}"
    yield fake
    await runner.cleanup()


async def chat_socket(connection: ServerConnection) -> None:
    """The Channels chat protocol: tokens for each prompt, then done; a prompt of "fail" gets an error."""
    async for frame in connection:
        message = json.loads(frame)
        request_id = message["id"]
        for n in range(TOKENS):
            await asyncio.sleep(TOKEN_S)
            await connection.send(json.dumps({"type": "token", "id": request_id, "text": f" w{n}"}))
        if message["prompt"] == "fail":
            await connection.send(json.dumps({"type": "error", "id": request_id, "message": "upstream failed"}))
        elif message["prompt"] == "hang up":
            await connection.close()
        else:
            await connection.send(json.dumps({"type": "done", "id": request_id, **done_fields()}))


@pytest.fixture
async def ws_url() -> AsyncIterator[str]:
    async with serve(chat_socket, "127.0.0.1", 0, origins=[ORIGIN]) as server:
        host, port = next(iter(server.sockets)).getsockname()[:2]
        yield f"ws://{host}:{port}/ws/chat/"
