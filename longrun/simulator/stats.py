"""Counters behind ``GET /stats``: what is in flight and how each finished request ended.

Every chat completion counts once in ``active`` while it runs and once, when it ends, in exactly one of
``completed`` (the whole reply went out), ``cancelled`` (the client went away first) or ``errors`` (a fault
was served, whatever the client did then). ``active`` is a gauge: it returns to 0 whatever happened.
``peak_active`` is the most requests that were in flight at once since the start or the last reset: a load test
reads from it how many upstream calls a server let run together (five for a pool of five sync workers), a fact
that no timing on the client's side can give exactly.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Iterator
from contextlib import contextmanager


class Outcome(enum.Enum):
    """How one request ended; the counter it lands in."""

    COMPLETED = "completed"
    CANCELLED = "cancelled"
    ERROR = "errors"


class RequestRecord:
    """How one request is going, as ``Stats.track`` hands it to the handler, which marks faults and departures."""

    __slots__ = ("outcome",)

    def __init__(self) -> None:
        self.outcome: Outcome | None = None

    def fault(self) -> None:
        """Mark a fault served: the request is an error whatever happens next."""
        self.outcome = Outcome.ERROR

    def cancelled(self) -> None:
        """Mark the client gone (a write found the connection closed); a fault already marked wins."""
        if self.outcome is None:
            self.outcome = Outcome.CANCELLED


class Stats:
    """The simulator's counters; one instance per application."""

    __slots__ = ("active", "peak_active", "completed", "cancelled", "errors")

    def __init__(self) -> None:
        self.active = 0
        self.peak_active = 0
        self.completed = 0
        self.cancelled = 0
        self.errors = 0

    def snapshot(self) -> dict[str, int]:
        """The counters, as ``GET /stats`` returns them."""
        return {
            "active": self.active,
            "peak_active": self.peak_active,
            "completed": self.completed,
            "cancelled": self.cancelled,
            "errors": self.errors,
        }

    def reset(self) -> None:
        """Zero the finished-request counters (``POST /stats/reset``); ``active`` counts requests still running.

        The peak starts again from the requests still running, so that it describes what comes after the reset.
        """
        self.completed = self.cancelled = self.errors = 0
        self.peak_active = self.active

    @contextmanager
    def track(self) -> Iterator[RequestRecord]:
        """Count one chat completion: active while the block runs, then in the counter of its outcome."""
        record = RequestRecord()
        self.active += 1
        self.peak_active = max(self.peak_active, self.active)
        try:
            yield record
        except (asyncio.CancelledError, ConnectionResetError):
            # aiohttp cancels the handler when the client disconnects (handler_cancellation=True).
            record.cancelled()
            raise
        except BaseException:
            record.fault()
            raise
        finally:
            self.active -= 1
            self._count(record.outcome or Outcome.COMPLETED)

    def _count(self, outcome: Outcome) -> None:
        """Add one finished request to its outcome's counter."""
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)
