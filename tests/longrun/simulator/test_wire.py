"""The pre-encoded chunks are exactly OpenAI's streaming format."""

from __future__ import annotations

import json

from longrun.simulator.wire import DONE_EVENT, ChunkEncoder, usage


def events(data: bytes) -> list[object]:
    """Splits SSE bytes into decoded ``data:`` payloads."""
    parts = data.decode().split("\n\n")
    assert parts[-1] == ""
    return [json.loads(part.removeprefix("data: ")) if part != "data: [DONE]" else "[DONE]" for part in parts[:-1]]


def test_the_first_write_holds_the_role_chunk_then_the_first_token() -> None:
    encoder = ChunkEncoder(id="chatcmpl-1", created=7, model="m", include_usage=False)
    role, token = events(encoder.first("Hello"))
    assert role == {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 7,
        "model": "m",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
    }
    assert token["choices"] == [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": None}]  # type: ignore[index]


def test_a_token_chunk_is_one_event() -> None:
    encoder = ChunkEncoder(id="chatcmpl-1", created=7, model='quote"model', include_usage=False)
    [chunk] = events(encoder.token(" world"))
    assert chunk["model"] == 'quote"model'  # type: ignore[index]
    assert chunk["choices"][0]["delta"] == {"content": " world"}  # type: ignore[index]


def test_the_end_is_the_finish_chunk_then_done() -> None:
    encoder = ChunkEncoder(id="chatcmpl-1", created=7, model="m", include_usage=False)
    data = encoder.end("length", usage(3, 5))
    finish, done = events(data)
    assert finish["choices"] == [{"index": 0, "delta": {}, "finish_reason": "length"}]  # type: ignore[index]
    assert done == "[DONE]" and data.endswith(DONE_EVENT)


def test_with_include_usage_the_end_adds_a_usage_chunk_and_others_carry_null_usage() -> None:
    encoder = ChunkEncoder(id="chatcmpl-1", created=7, model="m", include_usage=True)
    [token] = events(encoder.token(" x"))
    finish, usage_chunk, _ = events(encoder.end("stop", usage(3, 5)))
    assert token["usage"] is None and finish["usage"] is None  # type: ignore[index]
    assert usage_chunk["choices"] == []  # type: ignore[index]
    assert usage_chunk["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}  # type: ignore[index]
