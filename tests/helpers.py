"""Small helpers the tests share: reading Server-Sent Events and counting rows."""

from __future__ import annotations

import json
from typing import Any


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Splits an SSE body into (event, data) pairs."""
    events = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def row_counts() -> dict[str, int]:
    from llm_app.models import Conversation, LLMCall, Message

    return {
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
        "calls": LLMCall.objects.count(),
    }
