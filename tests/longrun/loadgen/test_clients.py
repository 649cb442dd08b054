"""One request of each kind against small servers that speak the app's wire formats, with their failures."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import aiohttp

from longrun.loadgen.clients import RequestResult, make_session, post_json, post_sse, websocket
from tests.longrun.loadgen.conftest import ORIGIN, PAYLOAD, TOKENS, FakeApp


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
    assert (result.ok, result.error, result.status, result.tokens, result.kind) == (
        True,
        None,
        101,
        TOKENS,
        "websocket",
    )


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
