"""Each process publishes its own snapshot to the channel-layer group the dashboard consumers listen to.

Once a second while the process is busy or watched, every few seconds when idle. The consumer merges the
snapshots of all processes (``merge.merge``), so the figures are right with several server processes behind a
Redis channel layer, not only for the process the browser talks to.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Callable

from llm_app.dashboard.tracker import Snapshot, Tracker, tracker
from longrun.connections import open_connections

GROUP = "longrun.dashboard"
MESSAGE_TYPE = "dashboard.snapshot"


def open_db_connections() -> int:
    """The database connections this process holds open now, over all its threads."""
    return len(open_connections())


def thread_count() -> int:
    """This process's OS threads (reads /proc: not on the event loop)."""
    import psutil  # type: ignore[import-untyped]

    return int(psutil.Process().num_threads())


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
        """Starts the publishing thread once per process; safe on the event loop (it never waits)."""
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
        """Sends through ``loop`` from now on: the in-memory channel layer's queues belong to the server's loop."""
        self._loop = loop

    def detach_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Stops sending through ``loop`` once nobody watches: no send may be scheduled on a loop about to close."""
        if self._loop is loop and not self._watchers:
            self._loop = None

    def watch(self, watcher: str) -> None:
        """A dashboard watches: the process publishes every second. Safe on the event loop."""
        self._watchers.add(watcher)  # set.add/discard are atomic: no lock to wait for on the loop

    def unwatch(self, watcher: str) -> None:
        self._watchers.discard(watcher)

    def request(self) -> None:
        """Publishes at the next tick, so a page that just opened shows figures at once."""
        self._requested = True

    def stop(self) -> None:
        """Ends the thread (tests)."""
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
        """Builds and sends one snapshot; a failed send is retried on the next tick."""
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


publisher = Publisher(tracker)
