"""The HTTP API through the official OpenAI SDK: streamed and whole replies, usage, timing, bad input."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI, BadRequestError
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessageParam

from tests.longrun.simulator.conftest import PROMPT, TOKEN_MS, TOKENS, TTFT_MS, Running


async def collect(
    client: AsyncOpenAI, messages: list[ChatCompletionMessageParam] = PROMPT, **kwargs: Any
) -> tuple[list[str], list[str | None], list[ChatCompletionChunk]]:
    """Streams one reply; returns its content pieces, finish reasons and the raw chunks."""
    stream = await client.chat.completions.create(model="any-model", messages=messages, stream=True, **kwargs)
    pieces: list[str] = []
    reasons: list[str | None] = []
    chunks: list[ChatCompletionChunk] = []
    async with stream:
        async for chunk in stream:
            chunks.append(chunk)
            for choice in chunk.choices:
                if choice.delta.content:
                    pieces.append(choice.delta.content)
                reasons.append(choice.finish_reason)
    return pieces, reasons, chunks


async def test_a_streamed_reply_has_one_chunk_per_token_and_ends_with_stop(client: AsyncOpenAI) -> None:
    pieces, reasons, _ = await collect(client)
    assert len(pieces) == TOKENS
    assert reasons[-1] == "stop"


async def test_a_streamed_reply_ends_with_done(simulator: Running) -> None:
    body = {"model": "m", "messages": PROMPT, "stream": True}
    async with (
        aiohttp.ClientSession() as session,
        session.post(simulator.url + "/chat/completions", json=body) as response,
    ):
        text = (await response.read()).decode()
    events = text.split("\n\n")
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(event.startswith("data: ") for event in events[:-1])


async def test_the_first_chunk_carries_the_assistant_role(client: AsyncOpenAI) -> None:
    _, _, chunks = await collect(client)
    first = chunks[0]
    assert first.choices[0].delta.role == "assistant"
    assert first.object == "chat.completion.chunk"


async def test_tokens_after_the_first_start_with_a_space(client: AsyncOpenAI) -> None:
    pieces, _, _ = await collect(client)
    assert not pieces[0].startswith(" ")
    assert all(piece.startswith(" ") and piece.strip() for piece in pieces[1:])


async def test_a_whole_reply_has_the_content_of_the_streamed_one(client: AsyncOpenAI) -> None:
    pieces, _, _ = await collect(client)
    completion = await client.chat.completions.create(model="any-model", messages=PROMPT)
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "".join(pieces)
    assert completion.choices[0].finish_reason == "stop"


async def test_a_whole_reply_reports_its_usage(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="any-model", messages=PROMPT)
    assert completion.usage is not None
    assert completion.usage.completion_tokens == TOKENS
    assert completion.usage.prompt_tokens == len(["Tell", "me", "about", "long-running", "requests."])
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + TOKENS


async def test_the_same_prompt_gives_the_same_reply(client: AsyncOpenAI) -> None:
    first, _, _ = await collect(client)
    second, _, _ = await collect(client)
    assert first == second


async def test_a_different_prompt_gives_a_different_reply(client: AsyncOpenAI) -> None:
    first, _, _ = await collect(client)
    other, _, _ = await collect(client, messages=[{"role": "user", "content": "Something else entirely."}])
    assert first != other


async def test_any_model_name_is_echoed_back(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="gpt-made-up", messages=PROMPT)
    assert completion.model == "gpt-made-up"


async def test_max_tokens_caps_a_stream_with_finish_reason_length(client: AsyncOpenAI) -> None:
    pieces, reasons, _ = await collect(client, max_tokens=3)
    full, _, _ = await collect(client)
    assert pieces == full[:3]
    assert reasons[-1] == "length"


async def test_max_tokens_caps_a_whole_reply_with_finish_reason_length(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="m", messages=PROMPT, max_tokens=3)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 3


async def test_max_tokens_above_the_reply_length_changes_nothing(client: AsyncOpenAI) -> None:
    pieces, reasons, _ = await collect(client, max_tokens=TOKENS)
    assert len(pieces) == TOKENS
    assert reasons[-1] == "stop"


async def test_include_usage_adds_a_final_chunk_with_usage_and_no_choices(client: AsyncOpenAI) -> None:
    pieces, _, chunks = await collect(client, stream_options={"include_usage": True})
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens == len(pieces) == TOKENS
    assert all(chunk.usage is None for chunk in chunks[:-1])


async def test_without_include_usage_no_chunk_has_usage(client: AsyncOpenAI) -> None:
    pieces, _, chunks = await collect(client)
    assert len(pieces) == TOKENS
    assert len(chunks) == TOKENS + 2  # the role chunk, one per token, the finish chunk
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)


async def test_the_first_token_comes_no_sooner_than_the_ttft(client: AsyncOpenAI) -> None:
    started = time.perf_counter()
    stream = await client.chat.completions.create(model="m", messages=PROMPT, stream=True)
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                first_token_s = time.perf_counter() - started
                break
    assert first_token_s >= TTFT_MS / 1000


async def test_a_stream_lasts_at_least_ttft_plus_a_token_delay_per_token(client: AsyncOpenAI) -> None:
    started = time.perf_counter()
    await collect(client)
    assert time.perf_counter() - started >= (TTFT_MS + TOKENS * TOKEN_MS) / 1000


async def test_a_whole_reply_takes_as_long_as_a_stream(client: AsyncOpenAI) -> None:
    started = time.perf_counter()
    await client.chat.completions.create(model="m", messages=PROMPT)
    assert time.perf_counter() - started >= (TTFT_MS + TOKENS * TOKEN_MS) / 1000


async def test_each_token_comes_no_sooner_than_its_deadline(client: AsyncOpenAI) -> None:
    stamps: list[float] = []
    started = time.perf_counter()
    stream = await client.chat.completions.create(model="m", messages=PROMPT, stream=True)
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                stamps.append(time.perf_counter() - started)
    # Token k is due TTFT + k token delays after the request started.
    assert len(stamps) == TOKENS
    assert all(stamp >= (TTFT_MS + index * TOKEN_MS) / 1000 for index, stamp in enumerate(stamps))


async def test_per_request_overrides_change_the_timing_and_length(client: AsyncOpenAI) -> None:
    started = time.perf_counter()
    overrides = {"simulator_ttft_ms": 120, "simulator_token_ms": 5, "simulator_tokens": 3}
    pieces, _, _ = await collect(client, extra_body=overrides)
    assert len(pieces) == 3
    assert time.perf_counter() - started >= 0.135


async def test_the_model_list_names_the_default_model_and_the_faults(client: AsyncOpenAI) -> None:
    models = [model.id async for model in client.models.list()]
    assert models == ["longrun-simulator", "fault:500", "fault:429", "fault:stall", "fault:cut", "fault:malformed"]


async def test_invalid_json_gets_a_400_invalid_request_error(simulator: Running) -> None:
    status, body, _ = await simulator.request("POST", "/v1/chat/completions", data=b"{not json")
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"]


async def test_missing_messages_gets_a_400_naming_the_parameter(simulator: Running) -> None:
    status, body, _ = await simulator.request("POST", "/v1/chat/completions", json={"model": "m"})
    assert status == 400
    assert body["error"] == {
        "message": "Missing required parameter: 'messages'.",
        "type": "invalid_request_error",
        "param": "messages",
        "code": None,
    }


async def test_the_sdk_raises_bad_request_for_an_invalid_override(client: AsyncOpenAI) -> None:
    with pytest.raises(BadRequestError):
        await client.chat.completions.create(model="m", messages=PROMPT, extra_body={"simulator_tokens": 0})
