"""Small helpers the tests share: reading Server-Sent Events, counting rows, finding planted audit markers,
whether a reply streamed while the LLM was still generating it, and the middleware of a new Django project."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longrun.loadgen import sse

# MIDDLEWARE as `django-admin startproject` writes it (Django 4.2 to 6.1).
STARTPROJECT_MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]


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


# --- streamed while the LLM generates --------------------------------------------------------------------------
# A buffered reply reaches the client only once it has ended, so after the LLM's call ended too; a streamed one
# brings its first token while the call is still running. The simulator's own count of calls in flight tells the
# two apart as a fact of state, where comparing times would measure the machine's load as much as the buffering.


@dataclass(frozen=True)
class Streamed:
    """One streamed reply: its tokens, and the LLM's counters when its first token arrived and once it was over."""

    tokens: int
    at_first_token: dict[str, int]
    after: dict[str, int]


async def settled(simulator: Any) -> dict[str, int]:
    """The simulator's counters once no call is in flight (an earlier test's calls may still be ending)."""
    for _ in range(300):  # a bound against a hang, not a timing claim
        stats: dict[str, int] = await simulator.astats()
        if stats["active"] == 0:
            return stats
        await asyncio.sleep(0.05)
    raise AssertionError(f"the simulator still has calls in flight: {stats}")


async def sse_while_generating(session: Any, url: str, payload: dict[str, Any], simulator: Any) -> Streamed:
    """POSTs ``payload`` to an SSE endpoint and reads the reply, taking the LLM's counters at its first token."""
    await settled(simulator)
    tokens, at_first_token = 0, {}
    async with session.post(url, json=payload) as reply:
        assert reply.status == 200
        async for event in sse.aiter_events(reply.content):
            if event.event == "token":
                tokens += 1
                at_first_token = at_first_token or await simulator.astats()
            elif event.event in {"done", "error"}:
                assert event.event == "done", event.data
                break
    return Streamed(tokens, at_first_token, await settled(simulator))


async def websocket_while_generating(socket: Any, payload: dict[str, Any], simulator: Any) -> Streamed:
    """Sends ``payload`` as a prompt on an open chat socket and reads the reply, the same way."""
    await settled(simulator)
    tokens, at_first_token = 0, {}
    await socket.send(json.dumps({"type": "prompt", "id": "t", **payload}))
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 15))
        if message["type"] == "token":
            tokens += 1
            at_first_token = at_first_token or await simulator.astats()
        elif message["type"] in {"done", "error"}:
            assert message["type"] == "done", message
            break
    return Streamed(tokens, at_first_token, await settled(simulator))


def assert_streamed_while_generating(streamed: Streamed, tokens: int) -> None:
    """Every token came, and the first while the LLM's call was still running: nothing held the reply back."""
    assert streamed.tokens == tokens
    assert streamed.at_first_token["active"] == 1, streamed
    assert streamed.after["completed"] == streamed.at_first_token["completed"] + 1, streamed
