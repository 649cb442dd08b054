"""The live counters of one process: calls in flight and the calls finished in the last minute.

Recording announces each call's start and end (``llm_app.services.signals``) on whatever thread records it, the
event loop included. The tracker's receivers only append the event to a deque, which is atomic in CPython and
takes no lock a reader could hold: a receiver on the event loop never waits. The work (draining, the window,
the samples) happens in ``snapshot()``, on the publisher's thread.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from llm_app.models import CallPath, Interface

WINDOW_S = 60.0
PATHS: tuple[str, ...] = tuple(CallPath.values)
INTERFACES: tuple[str, ...] = tuple(Interface.values)
# Samples a snapshot carries per figure: enough for exact percentiles up to this many calls a minute per process,
# the most recent ones beyond that, and a message that stays small on the channel layer.
MAX_SAMPLES = 2000
# The receivers append without a lock; past this many undrained events a receiver drains them itself (when the
# lock is free), so a process whose publisher is not running does not grow without bound.
MAX_PENDING = 10_000

_HOST = socket.gethostname()


class Snapshot(TypedDict):
    """One process's figures at one moment, as published to the dashboard group and merged there."""

    pid: int
    host: str
    interface: str
    sent_at: float
    window_s: float
    in_flight: dict[str, int]  # per path
    in_flight_by_interface: dict[str, int]
    finished: int  # in the window
    errors: int
    cancelled: int
    rejected: int  # in the window: turned away by LLM_MAX_IN_FLIGHT, never started
    tokens: int
    ttft_samples: list[float]
    latency_samples: list[float]  # complete calls only
    cancelled_total: dict[str, int]  # per path, since the process started
    threads: int | None
    db_connections: int | None


@dataclass(slots=True)
class _Running:
    path: str
    interface: str
    model: str
    started: float


@dataclass(slots=True)
class _Finished:
    at: float
    path: str
    status: str
    ttft_ms: float | None
    duration_ms: float
    tokens: int


# One event, queued for the next drain: ("start", call_id, at, path, interface, model),
# ("finish", call_id, at, status, ttft_ms, duration_ms, tokens) or ("reject", None, at, path).
_Event = tuple[Any, ...]


class Tracker:
    """The in-process counters of one process: calls in flight and the calls finished in the last window."""

    def __init__(self, *, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._pending: deque[_Event] = deque()
        self._lock = threading.Lock()
        self._running: dict[int, _Running] = {}
        self._finished: deque[_Finished] = deque()
        self._rejected: deque[float] = deque()  # when each rejection was counted
        self._cancelled_total = dict.fromkeys(PATHS, 0)
        self._interface = "none"

    def call_started(self, call_id: int, *, path: str, interface: str, model: str) -> None:
        """Counts a call in flight from now; never blocks."""
        self._pending.append(("start", call_id, self._clock(), str(path), str(interface), model))
        self._bound_pending()

    def call_finished(
        self, call_id: int, *, status: str, ttft_ms: float | None, duration_ms: float, tokens: int
    ) -> None:
        """Moves a call from in flight to the window, whatever its ending; never blocks."""
        self._pending.append(("finish", call_id, self._clock(), str(status), ttft_ms, duration_ms, tokens))
        self._bound_pending()

    def call_rejected(self, *, path: str) -> None:
        """Counts a call the in-flight cap turned away (it was never in flight); never blocks."""
        self._pending.append(("reject", None, self._clock(), str(path)))
        self._bound_pending()

    def _bound_pending(self) -> None:
        if len(self._pending) > MAX_PENDING and self._lock.acquire(blocking=False):
            try:
                self._drain()
            finally:
                self._lock.release()

    def _drain(self) -> None:
        """Applies the queued events in order, then drops what left the window; the caller holds the lock."""
        while self._pending:
            event = self._pending.popleft()
            if event[0] == "start":
                _, call_id, at, path, interface, model = event
                self._running[call_id] = _Running(path=path, interface=interface, model=model, started=at)
                self._interface = interface
            elif event[0] == "reject":
                self._rejected.append(event[2])
            else:
                _, call_id, at, status, ttft_ms, duration_ms, tokens = event
                running = self._running.pop(call_id, None)
                # A call started before this process counted (or before a reset) still counts as finished.
                path = running.path if running is not None else "unknown"
                self._finished.append(
                    _Finished(at=at, path=path, status=status, ttft_ms=ttft_ms, duration_ms=duration_ms, tokens=tokens)
                )
                if status == "cancelled" and path in self._cancelled_total:
                    self._cancelled_total[path] += 1
        horizon = self._clock() - self.window_s
        while self._finished and self._finished[0].at < horizon:
            self._finished.popleft()
        while self._rejected and self._rejected[0] < horizon:
            self._rejected.popleft()

    @property
    def interface(self) -> str:
        """The interface of the last call this process served ("none" before any)."""
        return self._interface

    def note_interface(self, interface: str) -> None:
        """Marks the process as serving ``interface`` when no call told yet (a process serving a socket is ASGI)."""
        if self._interface == "none":
            self._interface = interface

    def busy(self) -> bool:
        """Whether calls are in flight or finished inside the window."""
        with self._lock:
            self._drain()
            return bool(self._running) or bool(self._finished) or bool(self._rejected)

    def snapshot(self, *, threads: int | None = None, db_connections: int | None = None) -> Snapshot:
        """This process's figures, ready to publish and merge; drains the queue (not on the event loop)."""
        with self._lock:
            self._drain()
            running = list(self._running.values())
            finished = list(self._finished)
            rejected = len(self._rejected)
            cancelled_total = dict(self._cancelled_total)
        in_flight = dict.fromkeys(PATHS, 0)
        by_interface = dict.fromkeys(INTERFACES, 0)
        for call in running:
            in_flight[call.path] = in_flight.get(call.path, 0) + 1
            by_interface[call.interface] = by_interface.get(call.interface, 0) + 1
        recent = finished[-MAX_SAMPLES:]
        return Snapshot(
            pid=os.getpid(),
            host=_HOST,
            interface=self._interface,
            sent_at=time.time(),
            window_s=self.window_s,
            in_flight=in_flight,
            in_flight_by_interface=by_interface,
            finished=len(finished),
            errors=sum(1 for f in finished if f.status == "error"),
            cancelled=sum(1 for f in finished if f.status == "cancelled"),
            rejected=rejected,
            tokens=sum(f.tokens for f in finished),
            ttft_samples=[f.ttft_ms for f in recent if f.ttft_ms is not None],
            latency_samples=[f.duration_ms for f in recent if f.status == "complete"],
            cancelled_total=cancelled_total,
            threads=threads,
            db_connections=db_connections,
        )

    def reset(self) -> None:
        """Forgets every call (tests start from nothing)."""
        with self._lock:
            self._pending.clear()
            self._running.clear()
            self._finished.clear()
            self._rejected.clear()
            self._cancelled_total = dict.fromkeys(PATHS, 0)
            self._interface = "none"


tracker = Tracker()
