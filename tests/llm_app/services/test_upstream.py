"""The async path's lean calls give what the SDK's create gives, and fail as it fails, fault by fault."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest
from openai import AsyncOpenAI, DefaultAioHttpClient

from llm_app.services.upstream import achunks, areply, astream, chunk_text, chunk_usage_tokens, reply_text

MESSAGES = [{"role": "user", "content": "Hello"}]


@pytest.fixture
async def client(fast_simulator):
    timeout = httpx2.Timeout(1.0, connect=1.0)  # fault:stall must time out quickly
    sdk = AsyncOpenAI(
        base_url=fast_simulator.url,
        api_key="x",
        max_retries=0,
        timeout=timeout,
        http_client=DefaultAioHttpClient(timeout=timeout),
    )
    yield sdk
    await sdk.close()


async def through_models(client: AsyncOpenAI, model: str) -> tuple[list[str], int | None]:
    texts, usage = [], None
    stream = await client.chat.completions.create(
        model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage.completion_tokens
        if chunk.choices and chunk.choices[0].delta.content:
            texts.append(chunk.choices[0].delta.content)
    return texts, usage


async def through_dicts(client: AsyncOpenAI, model: str) -> tuple[list[str], int | None]:
    texts, usage = [], None
    body = {"model": model, "messages": MESSAGES, "stream": True, "stream_options": {"include_usage": True}}
    async for data in achunks(await astream(client, body)):
        usage = chunk_usage_tokens(data) or usage
        if text := chunk_text(data):
            texts.append(text)
    return texts, usage


async def outcome(parse: Any, client: AsyncOpenAI, model: str) -> Any:
    try:
        return await parse(client, model)
    except Exception as exc:  # noqa: BLE001 (the failure is the outcome compared)
        return type(exc)


async def test_a_normal_reply_gives_the_same_tokens_and_usage(client, fast_simulator):
    assert await through_dicts(client, "simulator") == await through_models(client, "simulator")
    texts, usage = await through_dicts(client, "simulator")
    assert (len(texts), usage) == (fast_simulator.tokens, fast_simulator.tokens)


async def whole_through_models(client: AsyncOpenAI, model: str) -> tuple[str, int | None]:
    reply = await client.chat.completions.create(model=model, messages=MESSAGES)
    return reply.choices[0].message.content or "", reply.usage.completion_tokens if reply.usage else None


async def whole_through_json(client: AsyncOpenAI, model: str) -> tuple[str, int | None]:
    data = await areply(client, {"model": model, "messages": MESSAGES})
    return reply_text(data), chunk_usage_tokens(data)


async def test_a_whole_reply_gives_the_same_text_and_usage(client, fast_simulator):
    assert await whole_through_json(client, "simulator") == await whole_through_models(client, "simulator")


FAULTS = ["fault:500", "fault:429", "fault:stall", "fault:cut", "fault:malformed"]


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_whole_reply_fails_on_each_fault_as_create_fails(client, fault):
    theirs = await outcome(whole_through_models, client, fault)
    ours = await outcome(whole_through_json, client, fault)
    assert isinstance(theirs, type) and issubclass(theirs, Exception), theirs
    assert ours is theirs


@pytest.mark.parametrize("fault", FAULTS)
async def test_each_fault_fails_as_the_sdk_fails(client, fault):
    theirs = await outcome(through_models, client, fault)
    ours = await outcome(through_dicts, client, fault)
    assert isinstance(theirs, type) and issubclass(theirs, Exception), theirs
    assert ours is theirs


async def test_an_error_event_in_the_stream_raises_the_sdk_s_api_error():
    # The simulator never sends one; a provider may, mid-stream: a real server that does, over real HTTP.
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    async def completions(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"choices": [{"index": 0, "delta": {"content": "Hi"}}]}\n\n')
        await response.write(b'data: {"error": {"message": "overloaded"}}\n\n')
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", completions)
    async with TestServer(app) as server:
        sdk = AsyncOpenAI(base_url=str(server.make_url("/v1")), api_key="x", max_retries=0)
        stream = await sdk.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        seen = []
        with pytest.raises(openai.APIError, match="overloaded"):
            async for data in achunks(stream):
                seen.append(chunk_text(data))
        await sdk.close()
    assert seen == ["Hi"]
