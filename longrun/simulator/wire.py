"""The OpenAI wire format of the simulator's replies: streamed chunks, the completion object, the model list.

Streaming is the hot path of a load test, so a ``ChunkEncoder`` JSON-encodes a request's fixed fields once
and each token's chunk is three byte strings joined: no ``json.dumps`` per chunk.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from longrun.simulator.text import encoded_token

DONE_EVENT = b"data: [DONE]\n\n"
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    # Tells nginx-like proxies in front of the simulator not to buffer the stream.
    "X-Accel-Buffering": "no",
}


def completion_id() -> str:
    """A new completion id, in OpenAI's ``chatcmpl-`` form."""
    return "chatcmpl-" + secrets.token_hex(12)


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """OpenAI's usage object."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


class ChunkEncoder:
    """Encodes one streamed reply's ``chat.completion.chunk`` events; built when the stream starts."""

    __slots__ = ("_head", "_tail", "_token_head", "_token_tail", "_include_usage")

    def __init__(self, *, id: str, created: int, model: str, include_usage: bool) -> None:
        self._include_usage = include_usage
        self._head = (
            f'data: {{"id":{json.dumps(id)},"object":"chat.completion.chunk","created":{created},'
            f'"model":{json.dumps(model)},"choices":['
        ).encode()
        # With include_usage OpenAI sends "usage": null on every chunk but the last.
        self._tail = b',"usage":null}\n\n' if include_usage else b"}\n\n"
        self._token_head = self._head + b'{"index":0,"delta":{"content":'
        self._token_tail = b'},"finish_reason":null}]' + self._tail

    def first(self, token: str) -> bytes:
        """The role chunk and the first token's chunk, sent in one write."""
        return self._choice(b'{"role":"assistant","content":""}', b"null") + self.token(token)

    def token(self, token: str) -> bytes:
        """A later token's content chunk, from three pre-encoded parts."""
        return self._token_head + encoded_token(token) + self._token_tail

    def end(self, finish_reason: str, usage_: dict[str, int]) -> bytes:
        """What follows the last token: the finish chunk, the usage chunk if asked for, and ``[DONE]``."""
        events = [self._choice(b"{}", json.dumps(finish_reason).encode())]
        if self._include_usage:
            encoded_usage = json.dumps(usage_, separators=(",", ":")).encode()
            events.append(self._head + b'],"usage":' + encoded_usage + b"}\n\n")
        events.append(DONE_EVENT)
        return b"".join(events)

    def _choice(self, delta: bytes, finish_reason: bytes) -> bytes:
        """One choice with the given delta and finish_reason (the role and finish chunks)."""
        return b"".join(
            (self._head, b'{"index":0,"delta":', delta, b',"finish_reason":', finish_reason, b"}]", self._tail)
        )


def completion_body(*, id: str, model: str, content: str, finish_reason: str, usage_: dict[str, int]) -> bytes:
    """A non-streamed reply: the ``chat.completion`` object, encoded."""
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage_,
    }
    return json.dumps(body).encode()


def models_body(names: list[str]) -> bytes:
    """OpenAI's list object of the given model names (``GET /v1/models``)."""
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "longrun"} for name in names]
    return json.dumps({"object": "list", "data": data}).encode()
