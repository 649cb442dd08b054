"""Counters behind ``GET /stats``: what is in flight and how each finished request ended.

Every chat completion counts once in ``active`` while it runs and once, when it ends, in exactly one of
``completed`` (the whole reply went out), ``cancelled`` (the client went away first) or ``errors`` (a fault
was served, whatever the client did then). ``active`` is a gauge: it returns to 0 whatever happened.
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


class Tracker:
    """One request's record, handed to the handler by ``Stats.track``; the handler marks faults on it."""

    __slots__ = ("outcome",)

    def __init__(self) -> None:
        self.outcome: Outcome | None = None

    def fault(self) -> None:
        """Called when the handler serves a fault: the request is an error whatever happens next."""
        self.outcome = Outcome.ERROR

    def cancelled(self) -> None:
        """Called when a write finds the client gone; a fault already marked wins."""
        if self.outcome is None:
            self.outcome = Outcome.CANCELLED


class Stats:
    """The simulator's counters; one instance per application."""

    __slots__ = ("active", "completed", "cancelled", "errors")

    def __init__(self) -> None:
        self.active = 0
        self.completed = 0
        self.cancelled = 0
        self.errors = 0

    def snapshot(self) -> dict[str, int]:
        """Called by ``GET /stats``."""
        return {"active": self.active, "completed": self.completed, "cancelled": self.cancelled, "errors": self.errors}

    def reset(self) -> None:
        """Called by ``POST /stats/reset``; ``active`` is left alone since those requests are still running."""
        self.completed = self.cancelled = self.errors = 0

    @contextmanager
    def track(self) -> Iterator[Tracker]:
        """Called around each chat completion: counts it active, then in the counter of its outcome."""
        tracker = Tracker()
        self.active += 1
        try:
            yield tracker
        except (asyncio.CancelledError, ConnectionResetError):
            # aiohttp cancels the handler when the client disconnects (handler_cancellation=True).
            tracker.cancelled()
            raise
        except BaseException:
            tracker.fault()
            raise
        finally:
            self.active -= 1
            self._count(tracker.outcome or Outcome.COMPLETED)

    def _count(self, outcome: Outcome) -> None:
        """Called once per request as it ends."""
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)
