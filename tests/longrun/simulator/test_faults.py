"""Faults asked for by model name, as the official SDK sees them (max_retries=0, so each shows at once)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import (
    APIConnectionError,
    APITimeoutError,
    AsyncOpenAI,
    InternalServerError,
    RateLimitError,
)

from longrun.simulator import Fault
from longrun.simulator.faults import fault_for_model, healthy_tokens
from tests.longrun.simulator.conftest import PROMPT, TOKENS


async def stream_pieces(client: AsyncOpenAI, model: str, pieces: list[str], **kwargs: Any) -> None:
    """Streams a reply into ``pieces`` until it ends or raises."""
    stream = await client.chat.completions.create(model=model, messages=PROMPT, stream=True, **kwargs)
    async with stream:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)


def test_only_the_documented_names_are_faults() -> None:
    assert fault_for_model("fault:500") is Fault.SERVER_ERROR
    assert fault_for_model("fault:unknown") is None
    assert fault_for_model("gpt-4o") is None


def test_cut_and_malformed_show_after_half_the_tokens_and_stall_after_one() -> None:
    assert healthy_tokens(Fault.CUT, 50) == healthy_tokens(Fault.MALFORMED, 50) == 25
    assert healthy_tokens(Fault.CUT, 1) == 1
    assert healthy_tokens(Fault.STALL, 50) == 1
    assert healthy_tokens(None, 50) == 50


async def test_fault_500_raises_internal_server_error(client: AsyncOpenAI) -> None:
    with pytest.raises(InternalServerError) as raised:
        await client.chat.completions.create(model=Fault.SERVER_ERROR, messages=PROMPT)
    assert raised.value.status_code == 500
    assert raised.value.body["type"] == "server_error"  # type: ignore[index]


async def test_fault_500_on_a_stream_raises_before_any_chunk(client: AsyncOpenAI) -> None:
    with pytest.raises(InternalServerError):
        await client.chat.completions.create(model=Fault.SERVER_ERROR, messages=PROMPT, stream=True)


async def test_fault_429_raises_rate_limit_error_with_retry_after(client: AsyncOpenAI) -> None:
    with pytest.raises(RateLimitError) as raised:
        await client.chat.completions.create(model=Fault.RATE_LIMIT, messages=PROMPT)
    assert raised.value.response.headers["retry-after"] == "1"
    assert raised.value.code == "rate_limit_exceeded"


async def test_fault_stall_sends_the_first_token_then_times_out(client: AsyncOpenAI) -> None:
    pieces: list[str] = []
    with pytest.raises(APITimeoutError):
        await stream_pieces(client, Fault.STALL, pieces, timeout=0.5)
    assert len(pieces) == 1


async def test_fault_stall_without_streaming_times_out(client: AsyncOpenAI) -> None:
    with pytest.raises(APITimeoutError):
        await client.chat.completions.create(model=Fault.STALL, messages=PROMPT, timeout=0.5)


async def test_fault_cut_ends_a_stream_after_half_the_tokens_without_done(client: AsyncOpenAI) -> None:
    pieces: list[str] = []
    with pytest.raises(APIConnectionError):
        await stream_pieces(client, Fault.CUT, pieces)
    assert len(pieces) == TOKENS // 2


async def test_fault_cut_without_streaming_drops_the_connection_before_the_reply(client: AsyncOpenAI) -> None:
    with pytest.raises(APIConnectionError):
        await client.chat.completions.create(model=Fault.CUT, messages=PROMPT)


async def test_fault_malformed_breaks_parsing_mid_stream(client: AsyncOpenAI) -> None:
    pieces: list[str] = []
    with pytest.raises(json.JSONDecodeError):
        await stream_pieces(client, Fault.MALFORMED, pieces)
    assert len(pieces) == TOKENS // 2


async def test_fault_malformed_without_streaming_sends_invalid_json(client: AsyncOpenAI) -> None:
    with pytest.raises(json.JSONDecodeError):
        await client.chat.completions.create(model=Fault.MALFORMED, messages=PROMPT)


async def test_an_undocumented_fault_name_gets_a_normal_reply(client: AsyncOpenAI) -> None:
    completion = await client.chat.completions.create(model="fault:unknown", messages=PROMPT)
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == TOKENS


def test_a_marker_in_the_last_message_asks_for_a_fault_when_the_model_name_cannot() -> None:
    from longrun.simulator.faults import fault_for_prompt

    assert fault_for_prompt("Please [fault:stall] now") is Fault.STALL
    assert fault_for_prompt("fault:500 without brackets") is None
    assert fault_for_prompt("[fault:unknown]") is None


async def test_a_prompt_marker_serves_the_fault_under_any_model_name(client: AsyncOpenAI) -> None:
    with pytest.raises(InternalServerError):
        await client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "[fault:500]"}])


async def test_only_the_last_message_is_read_for_a_marker(client: AsyncOpenAI) -> None:
    messages = [
        {"role": "user", "content": "[fault:500]"},
        {"role": "assistant", "content": "An earlier failed turn"},
        {"role": "user", "content": "Go on"},
    ]
    reply = await client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    assert reply.choices[0].message.content
