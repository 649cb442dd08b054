"""Deterministic reply text: the same prompt always gives the same words, one word per token.

A reply is words drawn from a fixed vocabulary by a generator seeded with a hash of the prompt (BLAKE2b, so
``PYTHONHASHSEED`` does not matter and two simulator processes agree). Every token but the first carries a
leading space, so joining the tokens gives readable text; a shorter reply is a prefix of a longer one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections.abc import Iterable
from typing import Any

VOCABULARY: tuple[str, ...] = tuple(
    [
        "the",
        "a",
        "an",
        "of",
        "to",
        "in",
        "for",
        "on",
        "with",
        "by",
        "from",
        "about",
        "into",
        "over",
        "after",
        "before",
        "under",
        "between",
        "through",
        "during",
        "model",
        "server",
        "request",
        "reply",
        "stream",
        "token",
        "prompt",
        "answer",
        "question",
        "context",
        "window",
        "thread",
        "worker",
        "process",
        "event",
        "loop",
        "socket",
        "queue",
        "task",
        "future",
        "handler",
        "view",
        "middleware",
        "database",
        "cache",
        "session",
        "cookie",
        "header",
        "latency",
        "throughput",
        "timeout",
        "retry",
        "backoff",
        "budget",
        "deadline",
        "signal",
        "error",
        "fault",
        "trace",
        "metric",
        "sample",
        "async",
        "sync",
        "await",
        "yield",
        "return",
        "call",
        "send",
        "receive",
        "read",
        "write",
        "open",
        "close",
        "start",
        "stop",
        "wait",
        "run",
        "fast",
        "slow",
        "quiet",
        "steady",
        "simple",
        "careful",
        "clear",
        "small",
        "large",
        "long",
        "short",
        "early",
        "late",
        "first",
        "last",
        "next",
        "each",
        "every",
        "some",
        "many",
        "few",
        "more",
        "less",
        "most",
        "often",
        "always",
        "never",
        "still",
        "again",
        "soon",
        "then",
        "now",
        "here",
        "there",
        "user",
        "client",
        "browser",
        "page",
        "form",
        "field",
        "button",
        "link",
        "image",
        "text",
        "word",
        "line",
        "list",
        "table",
        "chart",
        "report",
        "django",
        "python",
        "asgi",
        "wsgi",
        "http",
        "json",
        "chunk",
        "byte",
        "buffer",
        "frame",
        "connection",
        "channel",
        "route",
        "path",
        "query",
        "test",
        "check",
        "measure",
        "compare",
        "count",
        "keep",
        "move",
        "change",
        "build",
        "ship",
        "deploy",
        "scale",
        "serve",
        "cancel",
        "finish",
        "and",
        "but",
        "or",
        "so",
        "because",
        "while",
        "when",
        "where",
        "which",
        "that",
        "this",
        "these",
        "those",
        "it",
        "they",
        "we",
        "you",
        "our",
        "your",
        "good",
        "better",
        "best",
        "clean",
        "safe",
        "sound",
        "plain",
        "exact",
        "honest",
        "useful",
        "modern",
        "gentle",
        "patient",
        "robust",
    ]
)

# JSON-encoding a word costs more than the rest of a chunk; each token form is encoded once per process.
_ENCODED: dict[str, bytes] = {}


def prompt_text(messages: Iterable[dict[str, Any]]) -> str:
    """The text that seeds a reply: every message's role and content."""
    return "\n".join(f"{message.get('role', '')}: {message_content(message)}" for message in messages)


def message_content(message: dict[str, Any]) -> str:
    """A message's text, whether its content is a string or a list of typed parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def count_tokens(text: str) -> int:
    """Whitespace-separated words: the simulator's notion of a token."""
    return len(text.split())


def count_prompt_tokens(messages: Iterable[dict[str, Any]]) -> int:
    """``usage.prompt_tokens``: the words of every message's content (roles are not counted)."""
    return sum(count_tokens(message_content(message)) for message in messages)


@functools.lru_cache(maxsize=4096)
def reply_tokens(prompt: str, count: int) -> tuple[str, ...]:
    """The ``count`` tokens of the reply to ``prompt`` (cached: load tests repeat prompts)."""
    seed = int.from_bytes(hashlib.blake2b(prompt.encode("utf-8", "surrogatepass"), digest_size=16).digest(), "big")
    words = random.Random(seed).choices(VOCABULARY, k=count)
    return (words[0].capitalize(), *(" " + word for word in words[1:]))


def encoded_token(token: str) -> bytes:
    """A token as a JSON string literal, encoded once and reused."""
    encoded = _ENCODED.get(token)
    if encoded is None:
        encoded = _ENCODED[token] = json.dumps(token).encode()
    return encoded
