"""Calls left ``streaming`` by a process that died (SIGKILL, out of memory, a crash) are closed as ``error``.

Every call records its owner: the host, the process id and the process's start time (the start time tells a
live process from a later one that was given the same pid). A call whose owner is gone can never finish, so a
sweep closes it and its message as ``error``, with a message that says what happened. Its answer is lost: a
call's text is written when the call ends, which every ending while the process lives does (SIGTERM included).
The rule never closes a call another live process is still running:

* the sweep's own process never closes its own calls;
* an owner on this host is gone when no process has its pid, or the process that has it started at another time;
* an owner on another host (or a row from before owners were recorded) cannot be checked from here: its calls
  are closed only once they are older than ``ABANDONED_AFTER``, far longer than any LLM call lasts.

A process sweeps once when it records its first call (so a restarted server cleans up after the process it
replaced), then at most every ``LLM_ORPHAN_SWEEP_S`` seconds while it records calls (so, with several processes,
a live one closes the calls of a sibling that died). The sweeps run on one thread of the process's own, which
waits between them: never on the request path, never on the event loop, and no new thread per sweep.
``manage.py close_orphaned_calls`` runs it by hand.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import psutil  # type: ignore[import-untyped]
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from llm_app.models import LLMCall, Message, Status

logger = logging.getLogger(__name__)

ABANDONED_AFTER = timedelta(hours=1)
_START_DIGITS = 2  # psutil's create_time() is exact to the clock tick (10 ms)


@dataclass(frozen=True, slots=True)
class Owner:
    """A process that runs calls: where, which pid, and when it started (seconds since the epoch)."""

    host: str
    pid: int
    started: float

    def __str__(self) -> str:
        return f"{self.host} {self.pid} {self.started:.{_START_DIGITS}f}"

    @classmethod
    def parse(cls, value: str) -> Owner | None:
        """The owner recorded in ``LLMCall.owner``, or None for a row from before owners were recorded."""
        parts = value.rsplit(" ", 2)
        if len(parts) != 3:
            return None
        try:
            return cls(host=parts[0], pid=int(parts[1]), started=float(parts[2]))
        except ValueError:
            return None

    def describe(self) -> str:
        return f"process {self.pid} on {self.host}"


@functools.cache
def current_owner() -> Owner:
    """This process, as its calls record it; computed once (a fork calls ``current_owner.cache_clear()``)."""
    return Owner(host=socket.gethostname(), pid=os.getpid(), started=_start_time(os.getpid()) or 0.0)


def owner_of_this_process() -> str:
    """The value recording writes to ``LLMCall.owner``; right in a forked worker too."""
    owner = current_owner()
    if owner.pid != os.getpid():  # forked after the first call (a pre-loading worker pool)
        current_owner.cache_clear()
        owner = current_owner()
    return str(owner)


def _start_time(pid: int) -> float | None:
    try:
        return round(float(psutil.Process(pid).create_time()), _START_DIGITS)
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return None


def is_alive(owner: Owner) -> bool | None:
    """Whether ``owner`` still runs: True or False on this host, None when it cannot be told from here."""
    if owner.host != socket.gethostname():
        return None
    started = _start_time(owner.pid)
    return started is not None and abs(started - owner.started) < 0.05


def orphan_message(owner: Owner | None, *, alive: bool | None) -> str:
    """The ``LLMCall.error`` of a call closed by the sweep: what happened, and that the partial text was kept."""
    if owner is not None and alive is False:
        cause = f"The server {owner.describe()} stopped (crashed or was killed) before this call finished."
    else:
        who = owner.describe() if owner is not None else "an unrecorded process"
        cause = f"This call, run by {who}, was still open {ABANDONED_AFTER} after it started."
    # A call's text is written when it ends, so a process that died took what it had received with it.
    return cause + " Its answer was lost with it: send the prompt again."


def close_orphaned_calls(*, now: datetime | None = None) -> int:
    """Closes every ``streaming`` call whose owner is gone as ``error``; returns how many. Sync: not on a loop."""
    now = now or timezone.now()
    me = owner_of_this_process()
    closed = 0
    owners = LLMCall.objects.filter(status=Status.STREAMING).exclude(owner=me).values_list("owner", flat=True)
    for value in set(owners):
        owner = Owner.parse(value)
        alive = is_alive(owner) if owner is not None else None
        if alive:
            continue
        calls = LLMCall.objects.filter(status=Status.STREAMING, owner=value)
        if alive is None:
            calls = calls.filter(started_at__lt=now - ABANDONED_AFTER)
        message = orphan_message(owner, alive=alive)
        with transaction.atomic():
            ids = list(calls.select_for_update().values_list("pk", "message_id"))
            if not ids:
                continue
            # The filter on status again: a call that finished meanwhile keeps its own ending.
            closed += LLMCall.objects.filter(pk__in=[pk for pk, _ in ids], status=Status.STREAMING).update(
                status=Status.ERROR, error=message
            )
            Message.objects.filter(pk__in=[mid for _, mid in ids], status=Status.STREAMING).update(status=Status.ERROR)
    if closed:
        logger.warning("Closed %d LLM call(s) left streaming by a server process that is gone.", closed)
    return closed


class _Sweeper:
    """One thread for the process's sweeps, woken at most once per interval; never two sweeps at a time.

    The thread lives as long as the server (a thread per sweep would be a thread start and a new database
    connection every interval, for ever) and waits on its inbox between sweeps. Its database connection is
    closed after each sweep, so it holds none while it waits. It starts with the first call recorded and stops
    with the server (``astop``, from the ASGI lifespan's shutdown; ``stop`` at exit).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: float | None = None
        self._running = False
        self._thread: threading.Thread | None = None
        # True: sweep now; None: stop.
        self._inbox: queue.SimpleQueue[bool | None] = queue.SimpleQueue()
        self._stop_at_exit = False
        self.sweeps = 0  # sweeps run so far, for tests and measurements

    def poke(self) -> None:
        """Runs as each call is recorded: cheap (a clock read); never waits for the sweep itself."""
        now = time.monotonic()
        with self._lock:
            due = self._last is None or now - self._last >= settings.LLM_ORPHAN_SWEEP_S
            if not due or self._running:
                return
            self._last, self._running = now, True
            inbox = self._started()
        inbox.put(True)

    def _started(self) -> queue.SimpleQueue[bool | None]:
        # Under the lock. A forked child has no copy of its parent's thread: it starts one of its own.
        if self._thread is None or not self._thread.is_alive():
            self._inbox = queue.SimpleQueue()
            # A daemon, so that a sweep stuck on the database never keeps the process alive.
            self._thread = threading.Thread(
                target=self._work, args=(self._inbox,), name="longrun-orphan-sweep", daemon=True
            )
            self._thread.start()
            if not self._stop_at_exit:
                self._stop_at_exit = True
                atexit.register(self.stop)
        return self._inbox

    def _work(self, inbox: queue.SimpleQueue[bool | None]) -> None:
        while inbox.get() is not None:
            try:
                close_orphaned_calls()
            except Exception:
                logger.exception("The sweep for calls left streaming by a dead process failed; it runs again later.")
            finally:
                connections[DEFAULT_DB_ALIAS].close()
                with self._lock:
                    self._running = False
                    self.sweeps += 1

    @property
    def thread(self) -> threading.Thread | None:
        """The sweeping thread, once a recorded call has started it (and until ``stop``)."""
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        """Ends the thread once the sweep it is running (if any) is done; the next call starts a new one."""
        with self._lock:
            thread, inbox = self._thread, self._inbox
            self._thread = None
        if thread is None:
            return
        inbox.put(None)
        if thread is not threading.current_thread():
            thread.join(timeout)

    async def astop(self) -> None:
        """``stop`` for the event loop: the join (a sweep may be running) waits on a worker thread."""
        if self._thread is not None:
            await asyncio.to_thread(self.stop)


sweeper = _Sweeper()
