"""Reading Server-Sent Events, whole or as they arrive: the one SSE parser of the load generator and its users.

The parsing follows the HTML standard's event-stream rules, as far as a client of Django's
``StreamingHttpResponse`` needs them: ``field: value`` lines (one space after the colon is dropped), ``event``
names the event (``message`` when absent), ``data`` lines are joined with newlines, a line starting with ``:``
is a comment, and a blank line ends the event. An event without data is not dispatched, as in a browser.
``id`` and ``retry`` are accepted and ignored: nothing here reconnects.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event: its name and its data (the ``data`` lines joined with newlines)."""

    event: str
    data: str

    def json(self) -> Any:
        """The data parsed as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.data)


@dataclass(slots=True)
class SSEDecoder:
    """Turns lines into events, one line at a time: feed it every line, blank ones included."""

    _event: str = "message"
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> SSEEvent | None:
        """Takes one line (its line ending is stripped here); returns the event a blank line completes."""
        line = line.rstrip("\r\n")
        if not line:
            event, data = self._event, self._data
            self._event, self._data = "message", []
            return SSEEvent(event, "\n".join(data)) if data else None
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value or "message"
        elif name == "data":
            self._data.append(value)
        return None


def parse(body: bytes | str) -> list[SSEEvent]:
    """Every event of a whole SSE body (a test client's ``b"".join(response.streaming_content)``)."""
    text = body.decode() if isinstance(body, bytes) else body
    return list(iter_events(text.splitlines()))


def iter_events(lines: Iterable[str]) -> Iterable[SSEEvent]:
    """The events of a sequence of lines, each as soon as its blank line is read."""
    decoder = SSEDecoder()
    for line in lines:
        event = decoder.feed(line)
        if event is not None:
            yield event


async def aiter_events(lines: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:
    """The events of a stream read line by line (aiohttp's ``response.content``), each as it completes.

    As in ``iter_events``, an event cut off by the end of the stream (no blank line after it) is not
    dispatched: the caller sees the stream end early, which is what it did.
    """
    decoder = SSEDecoder()
    async for raw in lines:
        event = decoder.feed(raw.decode())
        if event is not None:
            yield event
