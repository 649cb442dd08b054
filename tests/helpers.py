"""Small helpers the tests share: reading Server-Sent Events, counting rows, finding planted audit markers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from longrun.loadgen import sse


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """An SSE body as (event, JSON data) pairs, read by the load generator's parser."""
    return [(event.event, event.json()) for event in sse.parse(raw)]


def row_counts() -> dict[str, int]:
    from llm_app.models import Conversation, LLMCall, Message

    return {
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
        "calls": LLMCall.objects.count(),
    }


def planted_markers(root: Path) -> set[tuple[str, int, str]]:
    """Every ``# LRnnn`` comment in a tree of example code: the (path, line, rule) the audit must report there."""
    markers = set()
    for path in root.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "#" in line:
                for rule_id in re.findall(r"LR\d{3}", line.split("#", 1)[1]):
                    markers.add((path.relative_to(root).as_posix(), number, rule_id))
    return markers
