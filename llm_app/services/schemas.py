"""The one request shape and the one reply shape that every path (sync, async, WebSocket, command) shares."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings

from llm_app.models import Status


class BadRequest(ValueError):
    """Raised by ``parse_chat_request`` with the HTTP status to answer and a message that names the fix."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class ChatRequest:
    prompt: str
    conversation: int | None = None
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ChatResult:
    """The reply: the JSON body of ``complete``, the ``done`` SSE event and the WebSocket ``done`` message."""

    conversation: int
    message: int
    content: str
    tokens: int
    ttft_ms: float | None
    duration_ms: float
    status: Status

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        return data


def _is_int(value: object) -> bool:
    # bool is a subclass of int: `true` is not a token count.
    return isinstance(value, int) and not isinstance(value, bool)


# The largest id a database integer column holds (PostgreSQL bigint, SQLite INTEGER); larger ones cannot exist.
_MAX_ID = 2**63 - 1


def _storable(text: str) -> bool:
    # Valid JSON escapes (\u0000, \ud800) that are not text: PostgreSQL refuses NUL, UTF-8 cannot encode a lone
    # surrogate, so the write (or the call to the LLM) would fail after the request was accepted.
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def validate_chat_request(data: object) -> ChatRequest:
    """Called on a decoded JSON body or WebSocket message: checks every field, raises ``BadRequest``."""
    if not isinstance(data, dict):
        raise BadRequest(400, 'The body must be a JSON object, for example {"prompt": "Hello"}.')
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise BadRequest(400, '`prompt` is required and must be a non-empty string, for example {"prompt": "Hello"}.')
    if not _storable(prompt):
        raise BadRequest(400, "`prompt` must be Unicode text without NUL characters or unpaired surrogates.")
    limit = settings.LLM_MAX_PROMPT_CHARS
    if len(prompt) > limit:
        raise BadRequest(
            413, f"`prompt` has {len(prompt)} characters; the limit is {limit} (LLM_MAX_PROMPT_CHARS). Shorten it."
        )
    conversation = data.get("conversation")
    if conversation is not None and (not _is_int(conversation) or not 1 <= conversation <= _MAX_ID):
        raise BadRequest(400, "`conversation` must be the integer id of an existing conversation, or omitted.")
    max_tokens = data.get("max_tokens")
    top = settings.LLM_MAX_TOKENS
    if max_tokens is not None and (not _is_int(max_tokens) or not 1 <= max_tokens <= top):
        raise BadRequest(400, f"`max_tokens` must be an integer from 1 to {top} (LLM_MAX_TOKENS), or omitted.")
    return ChatRequest(prompt=prompt, conversation=conversation, max_tokens=max_tokens)


def parse_chat_body(*, content_type: str, body: bytes) -> ChatRequest:
    """Called by both view modules on the raw request: content type, JSON, then the fields."""
    if content_type != "application/json":
        raise BadRequest(
            415,
            f"Content type {content_type or '(none)'!r} is not supported:"
            " send JSON with Content-Type: application/json.",
        )
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(
            400, f'The body is not valid JSON ({exc}). Send a JSON object such as {{"prompt": "Hello"}}.'
        ) from None
    return validate_chat_request(data)
