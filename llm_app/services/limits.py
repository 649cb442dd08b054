"""The cap on LLM calls in flight per process (``LLM_MAX_IN_FLIGHT``), and the errors every limit raises.

A worker pool capped the calls to the LLM by accident: five workers, five calls. Async removes that cap, so a
burst of users reaches the upstream LLM (its own rate limits, its bill) all at once. ``LLM_MAX_IN_FLIGHT`` puts
the cap back on purpose, per process, counting every path together: sync views on their threads, async views and
WebSocket generations on the event loop. A call past the cap waits, first come first served, up to
``LLM_QUEUE_TIMEOUT`` seconds for a slot; then it is turned away with ``OverCapacity`` (HTTP 503 with
``Retry-After``, or an ``error`` message with ``retry_after`` on a socket) before anything reached the LLM.

A freed slot is handed straight to the oldest waiter instead of being put back for anyone to grab, so a steady
stream of newcomers cannot starve a request that has been waiting. Waiters of both kinds share one queue: a
thread blocks on an ``Event``, a coroutine awaits a future that the releasing thread resolves through its loop.
The counter's lock is held for a few instructions, never across a wait, so taking it on the event loop is safe.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from typing import ClassVar

from django.conf import settings


class LimitExceeded(Exception):
    """A request turned away by a limit: the HTTP status to answer, when to retry, and a message naming the fix."""

    http_status: ClassVar[int] = 503

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class OverCapacity(LimitExceeded):
    """Raised when no slot under ``LLM_MAX_IN_FLIGHT`` freed up within ``LLM_QUEUE_TIMEOUT``."""

    http_status = 503

    def __init__(self, message: str, *, retry_after: int, waited_ms: float) -> None:
        super().__init__(message, retry_after=retry_after)
        self.waited_ms = waited_ms


class RateLimited(LimitExceeded):
    """Raised when a client sent more generation requests than ``LLM_RATE_LIMIT`` allows in its window."""

    http_status = 429


class Slot:
    """One call's place under the cap. ``release()`` hands it on; releasing twice is harmless."""

    def __init__(self, cap: InFlightCap | None) -> None:
        self._cap = cap
        self._lock = threading.Lock()

    @property
    def held(self) -> bool:
        return self._cap is not None

    def release(self) -> None:
        """Frees the slot when the call ends in any way; a generation's ``finally`` and its finalizer both call it."""
        with self._lock:
            cap, self._cap = self._cap, None
        if cap is not None:
            cap._release()


# The slot of a call when no cap is configured: nothing to hand back.
UNLIMITED = Slot(None)


class _ThreadWaiter:
    __slots__ = ("event", "granted")

    def __init__(self) -> None:
        self.granted = False
        self.event = threading.Event()

    def wake(self) -> bool:
        self.event.set()
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _LoopWaiter:
    __slots__ = ("future", "granted", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.granted = False
        self.loop = loop
        self.future: asyncio.Future[None] = loop.create_future()

    def wake(self) -> bool:
        try:
            self.loop.call_soon_threadsafe(_resolve, self.future)
        except RuntimeError:
            # The waiter's loop has closed: it can no longer use the slot.
            return False
        return True


class InFlightCap:
    """At most ``capacity`` slots taken at once in this process; the rest wait in one FIFO queue."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"An in-flight cap needs a capacity of 1 or more, not {capacity}.")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._taken = 0
        self._waiters: deque[_ThreadWaiter | _LoopWaiter] = deque()

    @property
    def in_flight(self) -> int:
        return self._taken

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def _take_now(self) -> bool:
        # Under self._lock. Never ahead of a waiter: a newcomer queues behind those already waiting.
        if self._taken < self.capacity and not self._waiters:
            self._taken += 1
            return True
        return False

    def acquire(self, *, timeout: float) -> Slot | None:
        """Blocks the calling thread up to ``timeout`` seconds for a slot; None when none freed up."""
        with self._lock:
            if self._take_now():
                return Slot(self)
            if timeout <= 0:
                return None
            waiter = _ThreadWaiter()
            self._waiters.append(waiter)
        waiter.event.wait(timeout)
        with self._lock:
            if waiter.granted:
                return Slot(self)
            self._waiters.remove(waiter)
            return None

    async def aacquire(self, *, timeout: float) -> Slot | None:
        """Waits on the event loop up to ``timeout`` seconds for a slot; None when none freed up."""
        with self._lock:
            if self._take_now():
                return Slot(self)
            if timeout <= 0:
                return None
            waiter = _LoopWaiter(asyncio.get_running_loop())
            self._waiters.append(waiter)
        try:
            await asyncio.wait({waiter.future}, timeout=timeout)
        except BaseException:
            # Cancelled while queued (a client gone, a stop): leave the queue, or hand on a slot granted meanwhile.
            with self._lock:
                granted = waiter.granted
                if not granted:
                    self._waiters.remove(waiter)
            if granted:
                self._release()
            raise
        with self._lock:
            if waiter.granted:
                return Slot(self)
            self._waiters.remove(waiter)
            return None

    def _release(self) -> None:
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                # The slot passes to the waiter without ever being free: ``_taken`` stays as it is.
                waiter.granted = True
                if waiter.wake():
                    return
                waiter.granted = False
            self._taken -= 1


_caps_lock = threading.Lock()
_caps: dict[int, InFlightCap] = {}


def current_cap() -> InFlightCap | None:
    """The process's cap for the current ``LLM_MAX_IN_FLIGHT``, or None when it is 0 (no cap)."""
    capacity = int(settings.LLM_MAX_IN_FLIGHT)
    if capacity <= 0:
        return None
    with _caps_lock:
        cap = _caps.get(capacity)
        if cap is None:
            cap = _caps[capacity] = InFlightCap(capacity)
        return cap


def _over_capacity(capacity: int, started: float) -> OverCapacity:
    timeout = float(settings.LLM_QUEUE_TIMEOUT)
    # A slot frees when a call ends; the queue already waited this long without one, so no sooner than that.
    retry_after = max(1, math.ceil(timeout))
    return OverCapacity(
        f"The server is at its limit of LLM_MAX_IN_FLIGHT={capacity} LLM calls in flight, and none finished within "
        f"LLM_QUEUE_TIMEOUT={timeout:g}s. Retry in {retry_after} s. If this happens often, add server processes "
        "or raise LLM_MAX_IN_FLIGHT (if the LLM can take more calls at once).",
        retry_after=retry_after,
        waited_ms=round((time.perf_counter() - started) * 1000, 1),
    )


def take_slot() -> Slot:
    """A slot under the cap before an LLM call, blocking the thread up to the queue timeout; raises OverCapacity."""
    cap = current_cap()
    if cap is None:
        return UNLIMITED
    started = time.perf_counter()
    slot = cap.acquire(timeout=float(settings.LLM_QUEUE_TIMEOUT))
    if slot is None:
        raise _over_capacity(cap.capacity, started)
    return slot


async def atake_slot() -> Slot:
    """A slot under the cap before an LLM call, awaited up to the queue timeout; raises OverCapacity."""
    cap = current_cap()
    if cap is None:
        return UNLIMITED
    started = time.perf_counter()
    slot = await cap.aacquire(timeout=float(settings.LLM_QUEUE_TIMEOUT))
    if slot is None:
        raise _over_capacity(cap.capacity, started)
    return slot
