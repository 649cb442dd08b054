"""One request of each kind against small servers that speak the app's wire formats, with their failures."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from websockets.asyncio.server import ServerConnection, serve

from longrun.loadgen.clients import RequestResult, make_session, post_json, post_sse, websocket

TOKENS = 5
TOKEN_S = 0.02
PAYLOAD = {"prompt": "Explain ASGI"}
ORIGIN = "http://testserver"


def done_fields(tokens: int = TOKENS, status: str = "complete") -> dict[str, Any]:
    return {
        "conversation": 1, "message": 2, "content": "word " * tokens, "tokens": tokens,
        "ttft_ms": 1.0, "duration_ms": 2.0, "status": status,
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


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def json_call(url: str, **session_args: Any) -> RequestResult:
    async with make_session(1, **session_args) as session:
        return await post_json(session, url, PAYLOAD)


async def sse_call(url: str) -> RequestResult:
    async with make_session(1) as session:
        return await post_sse(session, url, PAYLOAD)


async def test_a_json_reply_is_ok_with_the_replys_token_count(fake_app: FakeApp) -> None:
    result = await json_call(fake_app.url + "/complete")
    assert (result.ok, result.error, result.status, result.tokens, result.kind) == (True, None, 200, TOKENS, "json")


async def test_a_json_reply_counts_the_whole_reply_as_its_first_token(fake_app: FakeApp) -> None:
    result = await json_call(fake_app.url + "/complete")
    assert result.ttft_s is not None
    assert 0 < result.ttft_s <= result.total_s


async def test_a_json_post_sends_the_payload_as_its_body(fake_app: FakeApp) -> None:
    await json_call(fake_app.url + "/complete")
    assert fake_app.bodies == [PAYLOAD]


async def test_a_502_is_an_http_502_error(fake_app: FakeApp) -> None:
    result = await json_call(fake_app.url + "/fail")
    assert (result.ok, result.error, result.status) == (False, "http_502", 502)


async def test_a_reply_that_is_not_json_is_a_protocol_error(fake_app: FakeApp) -> None:
    result = await json_call(fake_app.url + "/html")
    assert result.error == "protocol"


async def test_a_refused_connection_is_a_connect_error() -> None:
    result = await json_call(f"http://127.0.0.1:{free_port()}/complete")
    assert (result.ok, result.error, result.status, result.ttft_s) == (False, "connect", None, None)


async def test_a_reply_slower_than_the_timeout_is_a_timeout_error(fake_app: FakeApp) -> None:
    fake_app.delay_s = 0.8
    result = await json_call(fake_app.url + "/complete", timeout_s=0.1)
    assert (result.ok, result.error) == (False, "timeout")


async def test_a_stream_counts_one_token_per_token_event(fake_app: FakeApp) -> None:
    result = await sse_call(fake_app.url + "/stream")
    assert (result.ok, result.error, result.tokens, result.kind) == (True, None, TOKENS, "sse")


async def test_a_streams_first_token_comes_before_its_end(fake_app: FakeApp) -> None:
    result = await sse_call(fake_app.url + "/stream")
    assert result.ttft_s is not None
    assert 0 < result.ttft_s < result.total_s


async def test_a_stream_that_ends_without_done_is_incomplete(fake_app: FakeApp) -> None:
    result = await sse_call(fake_app.url + "/stream?mode=cut")
    assert (result.ok, result.error, result.tokens) == (False, "incomplete", TOKENS)


async def test_a_stream_whose_connection_drops_mid_body_is_incomplete(fake_app: FakeApp) -> None:
    result = await sse_call(fake_app.url + "/stream?mode=drop")
    assert (result.ok, result.error, result.tokens) == (False, "incomplete", TOKENS)


async def test_a_connection_closed_before_any_reply_is_a_connect_error(fake_app: FakeApp) -> None:
    result = await json_call(fake_app.url + "/hang-up")
    assert (result.ok, result.error, result.status) == (False, "connect", None)


async def test_an_error_event_is_an_llm_error(fake_app: FakeApp) -> None:
    result = await sse_call(fake_app.url + "/stream?mode=error")
    assert (result.ok, result.error, result.tokens) == (False, "llm_error", TOKENS)


async def test_a_stream_answered_with_502_is_an_http_502_error(fake_app: FakeApp) -> None:
    result = await sse_call(fake_app.url + "/fail")
    assert (result.ok, result.error, result.tokens) == (False, "http_502", 0)


async def test_a_stream_to_a_closed_port_is_a_connect_error() -> None:
    result = await sse_call(f"http://127.0.0.1:{free_port()}/stream")
    assert result.error == "connect"


async def test_a_websocket_prompt_counts_its_tokens_until_done(ws_url: str) -> None:
    result = await websocket(ws_url, ORIGIN, PAYLOAD)
    assert (result.ok, result.error, result.status, result.tokens, result.kind) == (True, None, 101, TOKENS, "websocket")


async def test_a_websocket_prompts_first_token_comes_before_its_end(ws_url: str) -> None:
    result = await websocket(ws_url, ORIGIN, PAYLOAD)
    assert result.ttft_s is not None
    assert 0 < result.ttft_s < result.total_s


async def test_a_websocket_error_message_is_an_llm_error(ws_url: str) -> None:
    result = await websocket(ws_url, ORIGIN, {"prompt": "fail"})
    assert (result.ok, result.error, result.tokens) == (False, "llm_error", TOKENS)


async def test_a_socket_closed_before_done_is_incomplete(ws_url: str) -> None:
    result = await websocket(ws_url, ORIGIN, {"prompt": "hang up"})
    assert (result.ok, result.error, result.tokens) == (False, "incomplete", TOKENS)


async def test_a_handshake_from_a_refused_origin_is_an_http_403_error(ws_url: str) -> None:
    result = await websocket(ws_url, "http://elsewhere.example", PAYLOAD)
    assert (result.ok, result.error, result.status) == (False, "http_403", 403)


async def test_a_websocket_to_a_closed_port_is_a_connect_error() -> None:
    result = await websocket(f"ws://127.0.0.1:{free_port()}/ws/chat/", ORIGIN, PAYLOAD)
    assert (result.ok, result.error, result.status) == (False, "connect", None)


async def test_a_result_converts_to_a_json_ready_dict(fake_app: FakeApp) -> None:
    result = await json_call(fake_app.url + "/complete")
    assert json.loads(json.dumps(result.as_dict()))["tokens"] == TOKENS


def test_a_session_allows_a_connection_per_user() -> None:
    async def limit() -> int:
        async with make_session(1500) as session:
            assert isinstance(session.connector, aiohttp.TCPConnector)
            return session.connector.limit

    assert asyncio.run(limit()) == 1500
