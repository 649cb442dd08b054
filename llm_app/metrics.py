"""The live figures of LLM calls, the one place they come from: hooks fed by recording, snapshots, and their merge.

``llm_app.services.recording`` calls ``call_started`` and ``call_finished`` for every call on every path, the
same place that writes the ``LLMCall`` rows. The hooks run on whatever thread the recording runs on: a sync
view's worker thread, a management command, or the event loop itself (``astart``/``afinish``). So they only
append to a deque, which is atomic in CPython and takes no lock a reader could hold: a hook on the event loop
never waits. The work (draining, windows, percentiles) happens in ``snapshot()``, called from the publisher's
thread.

Each process publishes its own snapshot (pid, interface, counters, the window's latency samples) to the
channel-layer group ``GROUP``, once a second while it is busy or watched and every few seconds when idle.
The dashboard consumer merges the snapshots of all processes with ``merge``, so the figures are right with
several server processes behind a Redis channel layer, not only for the process the browser talks to.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

GROUP = "longrun.dashboard"
MESSAGE_TYPE = "dashboard.snapshot"
WINDOW_S = 60.0
PATHS = ("sync", "async", "websocket", "command")
INTERFACES = ("wsgi", "asgi", "none")
PERCENTILES = (50, 95, 99)
# Samples a snapshot carries per figure: enough for exact percentiles up to this many calls a minute per process,
# the most recent ones beyond that, and a message that stays small on the channel layer.
MAX_SAMPLES = 2000
# The hooks append here without a lock; past this many undrained events a hook drains them itself (when the lock
# is free), so a process whose publisher is not running does not grow without bound.
MAX_PENDING = 10_000

_HOST = socket.gethostname()

Snapshot = dict[str, Any]
Figures = dict[str, Any]


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


# One hook call, queued for the next drain: ("start", call_id, at, path, interface, model) or
# ("finish", call_id, at, status, ttft_ms, duration_ms, tokens).
_Event = tuple[Any, ...]


def percentile(values: Sequence[float], q: float) -> float | None:
    """Called by ``merge`` and the history figures: the nearest-rank percentile ``q`` of ``values``, or None."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class Tracker:
    """The in-process counters of one process: calls in flight and the calls finished in the last window."""

    def __init__(self, *, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._pending: deque[_Event] = deque()
        self._lock = threading.Lock()
        self._running: dict[int, _Running] = {}
        self._finished: deque[_Finished] = deque()
        self._cancelled_total = dict.fromkeys(PATHS, 0)
        self._interface = "none"

    def call_started(self, call_id: int, *, path: str, interface: str, model: str) -> None:
        """Called by recording when a call's row is written, before the LLM is asked; never blocks."""
        self._pending.append(("start", call_id, self._clock(), str(path), str(interface), model))
        self._bound_pending()

    def call_finished(
        self, call_id: int, *, status: str, ttft_ms: float | None, duration_ms: float, tokens: int
    ) -> None:
        """Called by recording when a call ends in any way (complete, error, cancelled); never blocks."""
        self._pending.append(("finish", call_id, self._clock(), str(status), ttft_ms, duration_ms, tokens))
        self._bound_pending()

    def _bound_pending(self) -> None:
        if len(self._pending) > MAX_PENDING and self._lock.acquire(blocking=False):
            try:
                self._drain()
            finally:
                self._lock.release()

    def _drain(self) -> None:
        """Called under the lock: applies the queued hook calls in order, then drops what left the window."""
        while self._pending:
            event = self._pending.popleft()
            if event[0] == "start":
                _, call_id, at, path, interface, model = event
                self._running[call_id] = _Running(path=path, interface=interface, model=model, started=at)
                self._interface = interface
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

    @property
    def interface(self) -> str:
        """Called by the publisher: the interface of the last call this process served ("none" before any)."""
        return self._interface

    def note_interface(self, interface: str) -> None:
        """Called by the dashboard consumer: a process serving WebSockets is an ASGI one, calls or not."""
        if self._interface == "none":
            self._interface = interface

    def busy(self) -> bool:
        """Called by the publisher each tick: whether calls are in flight or finished inside the window."""
        with self._lock:
            self._drain()
            return bool(self._running) or bool(self._finished)

    def snapshot(self, *, threads: int | None = None, db_connections: int | None = None) -> Snapshot:
        """Called by the publisher (a thread of its own) and by tests: this process's figures, ready to merge."""
        with self._lock:
            self._drain()
            running = list(self._running.values())
            finished = list(self._finished)
            cancelled_total = dict(self._cancelled_total)
        in_flight = dict.fromkeys(PATHS, 0)
        by_interface = dict.fromkeys(INTERFACES, 0)
        for call in running:
            in_flight[call.path] = in_flight.get(call.path, 0) + 1
            by_interface[call.interface] = by_interface.get(call.interface, 0) + 1
        recent = finished[-MAX_SAMPLES:]
        return {
            "pid": os.getpid(),
            "host": _HOST,
            "interface": self._interface,
            "sent_at": time.time(),
            "window_s": self.window_s,
            "in_flight": in_flight,
            "in_flight_by_interface": by_interface,
            "finished": len(finished),
            "errors": sum(1 for f in finished if f.status == "error"),
            "cancelled": sum(1 for f in finished if f.status == "cancelled"),
            "tokens": sum(f.tokens for f in finished),
            "ttft_samples": [f.ttft_ms for f in recent if f.ttft_ms is not None],
            "latency_samples": [f.duration_ms for f in recent if f.status == "complete"],
            "cancelled_total": cancelled_total,
            "threads": threads,
            "db_connections": db_connections,
        }

    def reset(self) -> None:
        """Called by tests: forgets every call."""
        with self._lock:
            self._pending.clear()
            self._running.clear()
            self._finished.clear()
            self._cancelled_total = dict.fromkeys(PATHS, 0)
            self._interface = "none"


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _percentiles(samples: Sequence[float]) -> dict[str, float | None]:
    return {f"p{q}": percentile(samples, q) for q in PERCENTILES}


def _sum_maps(maps: Iterable[Mapping[str, int]], keys: Sequence[str]) -> dict[str, int]:
    total = dict.fromkeys(keys, 0)
    for counts in maps:
        for key, value in counts.items():
            total[key] = total.get(key, 0) + int(value)
    return total


def merge(snapshots: Sequence[Snapshot]) -> Figures:
    """Called by the dashboard consumer for each snapshot it receives: the figures over every live process."""
    window_s = max((float(s["window_s"]) for s in snapshots), default=WINDOW_S)
    in_flight = _sum_maps((s["in_flight"] for s in snapshots), PATHS)
    by_interface = _sum_maps((s["in_flight_by_interface"] for s in snapshots), INTERFACES)
    cancelled_total = _sum_maps((s["cancelled_total"] for s in snapshots), PATHS)
    finished = sum(int(s["finished"]) for s in snapshots)
    errors = sum(int(s["errors"]) for s in snapshots)
    cancelled = sum(int(s["cancelled"]) for s in snapshots)
    tokens = sum(int(s["tokens"]) for s in snapshots)
    ttft = [x for s in snapshots for x in s["ttft_samples"]]
    latency = [x for s in snapshots for x in s["latency_samples"]]
    return {
        "window_s": window_s,
        "processes": [
            {
                "pid": s["pid"],
                "host": s["host"],
                "interface": s["interface"],
                "in_flight": sum(s["in_flight"].values()),
                "threads": s["threads"],
                "db_connections": s["db_connections"],
            }
            for s in sorted(snapshots, key=lambda s: (s["host"], s["pid"]))
        ],
        "in_flight": {"total": sum(in_flight.values()), **in_flight},
        "in_flight_by_interface": by_interface,
        "requests_per_s": round(finished / window_s, 3),
        "tokens_per_s": round(tokens / window_s, 3),
        "ttft_ms": _percentiles(ttft),
        "latency_ms": _percentiles(latency),
        "finished": finished,
        "errors": errors,
        "cancelled": cancelled,
        "error_rate": _rate(errors, finished),
        "cancel_rate": _rate(cancelled, finished),
        "cancelled_upstream": {"total": sum(cancelled_total.values()), **cancelled_total},
        "threads": sum(int(s["threads"] or 0) for s in snapshots),
        "db_connections": sum(int(s["db_connections"] or 0) for s in snapshots),
    }


# --- process figures -----------------------------------------------------------------------------------------

# Django keeps a connection per thread (and per alias), so connections.all() in one thread sees only that thread's.
# Every wrapper that ever opened a connection is remembered here (weakly) to count them across the process.
_wrappers: weakref.WeakSet[BaseDatabaseWrapper] = weakref.WeakSet()
_wrappers_lock = threading.Lock()


def _remember_wrapper(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Called by Django's connection_created signal, on the thread that opened the connection."""
    with _wrappers_lock:
        _wrappers.add(connection)


connection_created.connect(_remember_wrapper, dispatch_uid="llm_app.metrics.remember_wrapper")


def open_db_connections() -> int:
    """Called by the publisher: the database connections this process holds open now, over all its threads."""
    with _wrappers_lock:
        wrappers = set(_wrappers)
    # The calling thread's own connections too, in case they were opened before this module was imported.
    wrappers.update(connections.all(initialized_only=True))
    return sum(1 for wrapper in wrappers if wrapper.connection is not None)


def thread_count() -> int:
    """Called by the publisher (never on the event loop: psutil reads /proc): this process's OS threads."""
    import psutil  # type: ignore[import-untyped]

    return int(psutil.Process().num_threads())


# --- the publisher -------------------------------------------------------------------------------------------


class Publisher:
    """Sends this process's snapshot to ``GROUP`` from a daemon thread: each second while busy or watched."""

    def __init__(
        self,
        tracker: Tracker,
        *,
        interval_s: float = 1.0,
        idle_interval_s: float = 5.0,
        tick_s: float = 0.1,
        send: Callable[[Snapshot], None] | None = None,
    ) -> None:
        self.tracker = tracker
        self.interval_s = interval_s
        self.idle_interval_s = idle_interval_s
        self.tick_s = tick_s
        self._send = send or self._send_to_group
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        # Plain attributes, not threading.Event: the consumer sets them on the event loop, and Event.set() takes a
        # lock the publisher's thread may hold at that moment. The thread polls them every tick instead.
        self._requested = False
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._watchers: set[str] = set()
        self._last_sent = -math.inf

    def ensure_started(self) -> None:
        """Called by the hooks and the consumer: starts the publishing thread once per process."""
        if self._thread is not None and self._thread.is_alive():
            return
        # Never wait for the lock (this may run on the event loop): whoever holds it is starting the thread.
        if not self._lock.acquire(blocking=False):
            return
        try:
            if self._thread is None or not self._thread.is_alive():
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name="longrun-dashboard-publisher", daemon=True)
                self._thread.start()
        finally:
            self._lock.release()

    def attach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called by the consumer on connect: sends go through the server's loop (the in-memory layer needs it)."""
        self._loop = loop

    def detach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Called by the consumer when a watcher left: no send may be scheduled on a loop about to close."""
        if self._loop is loop and not self._watchers:
            self._loop = None

    def watch(self, watcher: str) -> None:
        """Called by the consumer on connect, on the event loop: a watched process publishes every second."""
        self._watchers.add(watcher)  # set.add/discard are atomic: no lock to wait for on the loop

    def unwatch(self, watcher: str) -> None:
        """Called by the consumer on disconnect."""
        self._watchers.discard(watcher)

    def request(self) -> None:
        """Called by the consumer on connect: publish at the next tick, so a new page shows figures at once."""
        self._requested = True

    def stop(self) -> None:
        """Called by tests: ends the thread."""
        self._stopping = True
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stopping:
            time.sleep(self.tick_s)
            since = time.monotonic() - self._last_sent
            requested, self._requested = self._requested, False
            due = since >= self.interval_s and (bool(self._watchers) or self.tracker.busy())
            if requested or due or since >= self.idle_interval_s:
                self.publish()

    def publish(self) -> None:
        """Build and send one snapshot; a failed send is retried on the next tick."""
        snapshot = self.tracker.snapshot(threads=thread_count(), db_connections=open_db_connections())
        self._last_sent = time.monotonic()
        # A dashboard must never take the server down: a failed send is retried on the next tick.
        with contextlib.suppress(Exception):
            self._send(snapshot)

    def _send_to_group(self, snapshot: Snapshot) -> None:
        from longrun.bridges import agroup_send

        message = {"type": MESSAGE_TYPE, "snapshot": snapshot}
        loop = self._loop
        if loop is not None and loop.is_running():
            # The loop of a dashboard consumer in this process: the in-memory layer's queues belong to it.
            asyncio.run_coroutine_threadsafe(agroup_send(GROUP, message), loop).result(timeout=10)
            return
        # Otherwise (a WSGI worker, an ASGI process nobody watches here) one loop of this thread's own, kept for
        # the thread's life, so a Redis layer keeps its connection instead of opening one per send.
        if self._own_loop is None or self._own_loop.is_closed():
            self._own_loop = asyncio.new_event_loop()
        self._own_loop.run_until_complete(agroup_send(GROUP, message))


tracker = Tracker()
publisher = Publisher(tracker)


def call_started(call_id: int, *, path: str, interface: str, model: str) -> None:
    """Called by recording.start/astart once the call's row exists: counts the call in flight."""
    tracker.call_started(call_id, path=path, interface=interface, model=model)
    publisher.ensure_started()


def call_finished(call_id: int, *, status: str, ttft_ms: float | None, duration_ms: float, tokens: int) -> None:
    """Called by recording.finish/afinish when a call ends: moves it from in flight to the window."""
    tracker.call_finished(call_id, status=status, ttft_ms=ttft_ms, duration_ms=duration_ms, tokens=tokens)
    publisher.ensure_started()
