"""ASGI entry point for a server under a soak: the project's application, plus a sampler of its event loop.

Serve ``llm_app.soak.probe:application`` instead of ``project.asgi:application`` with ``LONGRUN_SOAK_PROBE``
set to a file: every ``LONGRUN_SOAK_PROBE_S`` seconds (2) the server appends one JSON line with its event loop's
lateness over that window (p50, p99, max, in ms: how late a 20 ms timer fired) and the number of asyncio tasks
alive (a leak of tasks shows here before it shows in memory). Only a server's own loop can measure its lag; the
rest (memory, threads, descriptors, database connections) is read from outside (``figures``).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import django

PROBE_ENV = "LONGRUN_SOAK_PROBE"
INTERVAL_ENV = "LONGRUN_SOAK_PROBE_S"
TICK_S = 0.02

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _task_kind(task: asyncio.Task[Any]) -> str:
    """What a task runs, and where it waits: ``"outer"``, or ``"outer > innermost"`` when it awaits a coroutine.

    The outer name alone says little for a server's tasks (every request is the handler's ``__call__``); the
    innermost coroutine of its await chain says what it is waiting for.
    """
    coroutine: Any = task.get_coro()
    outer = getattr(coroutine, "__qualname__", "?")
    inner = coroutine
    while True:
        awaited = getattr(inner, "cr_await", None) or getattr(inner, "ag_await", None)
        if awaited is None or not hasattr(awaited, "__qualname__"):
            break
        inner = awaited
    return outer if inner is coroutine else f"{outer} > {inner.__qualname__}"


def _task_kinds(loop: asyncio.AbstractEventLoop, most: int = 8) -> list[tuple[str, int]]:
    kinds = Counter(_task_kind(task) for task in asyncio.all_tasks(loop))
    return kinds.most_common(most)


class LoopSampler:
    """A task on the serving loop: a timer every ``TICK_S``, and one line per interval to ``path``."""

    def __init__(self, path: Path, interval_s: float) -> None:
        self.path = path
        self.interval_s = interval_s
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Starts the sampling task on the running loop; once."""
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run(), name="longrun soak probe")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        lags: list[float] = []
        window_end = loop.time() + self.interval_s
        while True:
            expected = loop.time() + TICK_S
            await asyncio.sleep(TICK_S)
            lags.append(max(0.0, loop.time() - expected) * 1000)
            if loop.time() >= window_end:
                ordered = sorted(lags)
                line = {
                    "at": time.time(),
                    "lag_p50_ms": round(_percentile(ordered, 50), 2),
                    "lag_p99_ms": round(_percentile(ordered, 99), 2),
                    "lag_max_ms": round(ordered[-1], 2),
                    "tasks": len(asyncio.all_tasks(loop)),
                    # What the tasks are running, most common first: the first place to look when they pile up.
                    "task_kinds": _task_kinds(loop),
                }
                lags, window_end = [], loop.time() + self.interval_s
                # A file append is quick, but not for the loop to do: it is what is being measured.
                await asyncio.to_thread(self._append, json.dumps(line))

    def _append(self, line: str) -> None:
        with self.path.open("a") as out:
            out.write(line + "\n")


class ProbedApplication:
    """Wraps an ASGI application; starts the loop sampler on the first connection (the loop is running then)."""

    def __init__(self, app: ASGIApp, sampler: LoopSampler | None) -> None:
        self.app = app
        self.sampler = sampler

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if self.sampler is not None:
            self.sampler.start()
        await self.app(scope, receive, send)


def build_application() -> ProbedApplication:
    """The project's ASGI application (``settings.ASGI_APPLICATION``), probed when ``LONGRUN_SOAK_PROBE`` is set."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup(set_prefix=False)
    from channels.routing import get_default_application

    target = os.environ.get(PROBE_ENV, "")
    sampler = LoopSampler(Path(target), float(os.environ.get(INTERVAL_ENV, "2"))) if target else None
    return ProbedApplication(get_default_application(), sampler)


application = build_application()
