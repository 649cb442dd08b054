"""The loop-lag monitor: a task that sleeps an interval and logs when it woke up later than a threshold.

The blocking detector only knows the functions blockbuster patches; a loop stalled by CPU work, a C
extension or an unpatched call shows up here instead, as lateness. While the loop is stalled, a watchdog
thread samples the loop thread's stack (``sys._current_frames``), so the log can say which line of your
code was running rather than only that something was.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from dataclasses import dataclass
from types import TracebackType

from longrun.detector.report import Frame, culprit_index, format_stack, frames_of

logger = logging.getLogger("longrun.detector")


@dataclass(frozen=True, slots=True)
class LoopLag:
    """One stall longer than the threshold: how late the monitor woke, and what the loop was running."""

    lag: float  # seconds past the expected wake-up
    stack: tuple[Frame, ...]  # sampled during the stall, outermost first; empty when no sample was taken
    culprit: Frame | None  # the innermost frame of the user's code in ``stack``

    def format(self, threshold: float) -> str:
        """The log record's text: the stall, the user's line and the sampled stack."""
        lines = [f"The event loop was blocked for {self.lag:.3f} s (threshold {threshold:.3f} s)"]
        if self.culprit is not None:
            lines[0] += f", running {self.culprit.location} in {self.culprit.function}"
            if self.culprit.source:
                lines.append(f"    {self.culprit.source}")
        elif self.stack:
            lines[0] += " (no frame of your own code on the sampled stack)"
        if self.stack:
            lines += format_stack(self.stack)
        return "\n".join(lines)


class LoopLagMonitor:
    """Watches the running loop: ``start()``/``await stop()``, or ``async with LoopLagMonitor(...)``."""

    def __init__(
        self,
        *,
        threshold: float = 0.1,
        interval: float = 0.05,
        sample_stack: bool = True,
        log: logging.Logger = logger,
    ) -> None:
        """A stall is logged when the monitor wakes ``threshold`` s late or more."""
        if threshold <= 0 or interval <= 0:
            raise ValueError("threshold and interval must be positive numbers of seconds.")
        self.threshold = threshold
        self.interval = interval
        self.sample_stack = sample_stack
        self.log = log
        self.lags: list[LoopLag] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tick_started = 0.0  # loop.time() when the current sleep began
        # What the watchdog thread reads: the loop thread, the last heartbeat, and its sample for that beat.
        self._loop_thread = 0
        self._beat = 0.0
        self._sample: tuple[float, tuple[Frame, ...]] | None = None
        self._stop_watchdog = threading.Event()
        self._watchdog: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the watch task is alive."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Starts watching the running loop (RuntimeError without one): run it from code on that loop."""
        if self.running:
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
        self._tick_started = self._loop.time()
        self._task = self._loop.create_task(self._watch(), name="longrun loop-lag monitor")
        if self.sample_stack:
            self._stop_watchdog.clear()
            self._watchdog = threading.Thread(
                target=self._watch_from_thread, name="longrun loop-lag watchdog", daemon=True
            )
            self._watchdog.start()

    async def stop(self) -> None:
        """Stops watching (on the loop): checks the stall in progress, then ends the task and the watchdog."""
        if self._task is None or self._loop is None:
            return
        # A stall just before stop() may not have been measured yet: the task's wake-up is still queued.
        self._check(self._loop.time())
        self._task.cancel()
        # wait() returns once the task is done, however it ended; it raises CancelledError only when our own
        # caller is cancelled (awaiting the task would raise it either way, and Task.cancelling() is 3.11+).
        await asyncio.wait([self._task])
        if not self._task.cancelled() and (error := self._task.exception()) is not None:
            raise error
        self._task = None
        self._stop_watchdog.set()
        if self._watchdog is not None:
            # join() blocks; the watchdog wakes within one interval, so wait for it off the loop.
            await asyncio.to_thread(self._watchdog.join)
            self._watchdog = None

    async def __aenter__(self) -> LoopLagMonitor:
        self.start()
        await asyncio.sleep(0)  # let the task begin its first sleep, so a stall right after entering is seen
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _watch(self) -> None:
        """Runs as the monitor's task until ``stop()``."""
        loop = asyncio.get_running_loop()
        while True:
            self._tick_started = loop.time()
            self._beat = time.monotonic()
            await asyncio.sleep(self.interval)
            self._check(loop.time())

    def _check(self, now: float) -> None:
        """Logs the lateness of the current tick when over the threshold (after each sleep, and at stop)."""
        lag = now - self._tick_started - self.interval
        if lag < self.threshold:
            return
        sample = self._sample
        stack = sample[1] if sample is not None and sample[0] == self._beat else ()
        index = culprit_index(stack)
        record = LoopLag(lag=lag, stack=stack, culprit=None if index is None else stack[index])
        self.lags.append(record)
        # Counted once: the next tick (or stop) measures from now.
        self._tick_started = now - self.interval
        self.log.warning("%s", record.format(self.threshold), extra={"longrun_lag": record})

    def _watch_from_thread(self) -> None:
        """Runs on the watchdog thread: samples the loop thread's stack once per stalled heartbeat."""
        while not self._stop_watchdog.wait(self.interval):
            beat = self._beat
            stalled = time.monotonic() - beat > self.interval + self.threshold
            if not stalled or (self._sample is not None and self._sample[0] == beat):
                continue
            frame = sys._current_frames().get(self._loop_thread)
            self._sample = (beat, frames_of(frame))
