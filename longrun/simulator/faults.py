"""Faults the simulator serves on request, chosen by the request's ``model`` name.

``fault:500``
    HTTP 500 at once, with an OpenAI-style error body (``type`` ``server_error``).
``fault:429``
    HTTP 429 at once, with an OpenAI-style error body (``code`` ``rate_limit_exceeded``) and a
    ``retry-after`` header (seconds, ``--retry-after-s``).
``fault:stall``
    Streamed: the first token at the TTFT, then no more bytes; the connection stays open until the client
    goes away or ``--stall-cap-s`` passes, then it is dropped. Not streamed: no bytes at all, same hold.
``fault:cut``
    Streamed: half the tokens (at least one), then at the next token's deadline the connection is closed
    without the finish chunk or ``[DONE]``. Not streamed: the connection is dropped at that same moment,
    before any byte of the reply.
``fault:malformed``
    Streamed: after half the tokens a ``data:`` line that is not valid JSON, then the rest of the stream as
    usual. Not streamed: the reply (status 200, ``application/json``) is cut short, so it is not valid JSON.

Any other model name gets a normal reply. Every fault request counts once in ``errors`` of ``GET /stats``.

An app that always sends the same model name can ask for a fault in its prompt instead: ``[fault:stall]`` (any
of the names above in square brackets) anywhere in the last message's text. The model name wins when both ask.
"""

from __future__ import annotations

import json
import re
from typing import Any

from longrun._compat import StrEnum


class Fault(StrEnum):
    """A fault the simulator serves; the value is the model name that asks for it (``model=Fault.CUT``)."""

    SERVER_ERROR = "fault:500"
    RATE_LIMIT = "fault:429"
    STALL = "fault:stall"
    CUT = "fault:cut"
    MALFORMED = "fault:malformed"


FAULT_NAMES: tuple[str, ...] = tuple(fault.value for fault in Fault)

# Faults answered at once with an error status, before any timing applies.
IMMEDIATE_FAULTS = frozenset({Fault.SERVER_ERROR, Fault.RATE_LIMIT})

# A chunk that starts like a real one and stops mid-object: a parser fails on it, a line splitter does not.
MALFORMED_EVENT = (
    b'data: {"id":"chatcmpl-malformed","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":\n\n'
)


def fault_for_model(model: str) -> Fault | None:
    """The fault a model name asks for, or None for a normal reply."""
    if not model.startswith("fault:"):
        return None
    try:
        return Fault(model)
    except ValueError:
        return None


_PROMPT_FAULT = re.compile(r"\[(fault:[a-z0-9]+)\]")


def fault_for_prompt(text: str) -> Fault | None:
    """The fault a ``[fault:NAME]`` marker in the last message's text asks for, or None."""
    match = _PROMPT_FAULT.search(text)
    return fault_for_model(match.group(1)) if match else None


def healthy_tokens(fault: Fault | None, tokens: int) -> int:
    """How many tokens of a reply go out normally before its fault shows."""
    if fault is Fault.STALL:
        return 1
    if fault in (Fault.CUT, Fault.MALFORMED):
        return max(1, tokens // 2)
    return tokens


def error_body(message: str, error_type: str, *, param: str | None = None, code: str | None = None) -> bytes:
    """OpenAI's error object, encoded: the body of every error reply."""
    error: dict[str, Any] = {"message": message, "type": error_type, "param": param, "code": code}
    return json.dumps({"error": error}).encode()


SERVER_ERROR_BODY = error_body(
    "The server had an error while processing your request (simulated by fault:500).", "server_error"
)
RATE_LIMIT_BODY = error_body(
    "Rate limit reached for requests (simulated by fault:429).", "requests", code="rate_limit_exceeded"
)
