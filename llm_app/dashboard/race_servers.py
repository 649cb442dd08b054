"""The race's two servers, started for the first race and kept warm while a dashboard is open.

Starting them is most of a cold race's wait: a SQLite database of their own is migrated (a child process that
imports Django), then gunicorn's five sync workers and daphne each import Django and the app before they answer
HTTP. Both start at once, each in a thread (``running_server`` blocks until its server answers), and every step
is reported, so the dashboard can say which server is starting and why it takes time.

Once up, they stay up between races while at least one dashboard socket of this process is open, and are
stopped ``KEEP_WARM_S`` after the last one closes (a reload does not stop them), when this process exits, or
when one of them has died (the next race starts them again). Keeping them costs their memory: six idle
processes.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from llm_app.server_env import ROOT, migrated_sqlite_env
from llm_app.servers import running_server

WORKERS = 5
KEEP_WARM_S = 60.0
# The lanes' servers, in the order the dashboard names them.
LANE_SERVERS = {"sync": "gunicorn", "async": "daphne"}
WHY_SLOW = {
    "gunicorn": f"its {WORKERS} sync workers each import Django and the app",
    "daphne": "one process importing Django, Channels and the app",
}

Report = Callable[[str], None]
# running_server's shape: (name, env=, cwd=, **options) -> a context of (base URL, process).
Launcher = Callable[..., AbstractContextManager[tuple[str, "subprocess.Popen[bytes]"]]]
# (directory, LLM URL, model) -> the servers' environment, their database ready in ``directory``.
Prepare = Callable[[Path, str, str], dict[str, str]]


def prepare_database(directory: Path, llm_url: str, model: str) -> dict[str, str]:
    """A migrated SQLite file in ``directory``; the servers call the dashboard's LLM, with no login required."""
    return migrated_sqlite_env(directory, llm_url=llm_url, LLM_MODEL=model, LLM_REQUIRE_AUTH="false")


@dataclass(slots=True)
class _Running:
    """What one start produced: the base URL per lane, the processes, and what stops them."""

    key: tuple[str, str]  # (LLM URL, model): servers for another LLM are no use
    urls: dict[str, str]
    processes: list[subprocess.Popen[bytes]]
    stack: contextlib.ExitStack
    directory: Path

    def alive(self) -> bool:
        return all(process.poll() is None for process in self.processes)


class RaceServers:
    """Starts the race's servers on demand and keeps them while dashboards watch (one per server process)."""

    def __init__(
        self,
        *,
        keep_warm_s: float = KEEP_WARM_S,
        launcher: Launcher = running_server,
        prepare: Prepare = prepare_database,
    ) -> None:
        self.keep_warm_s = keep_warm_s
        self._launcher = launcher
        self._prepare = prepare
        self._running: _Running | None = None
        self._lock = asyncio.Lock()
        self._watchers = 0
        self._in_use = 0
        self._idle_stop: asyncio.TimerHandle | None = None
        self._exit_hook = False

    @property
    def watchers(self) -> int:
        """How many dashboard sockets of this process are open."""
        return self._watchers

    @property
    def warm(self) -> bool:
        """Whether both servers are up now, so that a race would start at once."""
        return self._running is not None and self._running.alive()

    def watch(self) -> None:
        """A dashboard opened: keep the servers (an idle stop pending is called off)."""
        self._watchers += 1
        self._cancel_idle_stop()

    def unwatch(self) -> None:
        """A dashboard closed: when it was the last and no race runs, stop the servers after ``keep_warm_s``."""
        self._watchers = max(0, self._watchers - 1)
        self._schedule_idle_stop()

    @contextlib.asynccontextmanager
    async def use(self, report: Report) -> AsyncIterator[dict[str, str]]:
        """The base URL of each lane's server, started first if needed; they are not stopped while in use."""
        self._in_use += 1
        self._cancel_idle_stop()
        try:
            yield await self._ensure(report)
        finally:
            self._in_use -= 1
            self._schedule_idle_stop()

    async def astop(self) -> None:
        """Stops both servers now (in a thread: stopping waits for the processes) and drops their database."""
        async with self._lock:
            running, self._running = self._running, None
            if running is not None:
                await asyncio.to_thread(_close, running)

    def stop(self) -> None:
        """The same, from sync code: at this process's exit."""
        running, self._running = self._running, None
        if running is not None:
            _close(running)

    async def _ensure(self, report: Report) -> dict[str, str]:
        key = (str(settings.LLM_BASE_URL), str(settings.LLM_MODEL))
        async with self._lock:
            running = self._running
            if running is not None and running.alive() and running.key == key:
                report("both servers are already running (kept warm while a dashboard is open)")
                return running.urls
            if running is not None:
                self._running = None
                await asyncio.to_thread(_close, running)
            self._running = await self._start(key, report)
            if not self._exit_hook:
                atexit.register(self.stop)
                self._exit_hook = True
            return self._running.urls

    async def _start(self, key: tuple[str, str], report: Report) -> _Running:
        stack = contextlib.ExitStack()
        try:
            report("preparing the servers' own SQLite database (migrate runs in a child process that imports Django)")
            directory, env = await asyncio.to_thread(self._workspace, stack, key)
            urls, processes = await self._launch_both(env, stack, report)
        except BaseException:
            await asyncio.to_thread(stack.close)
            raise
        return _Running(key=key, urls=urls, processes=processes, stack=stack, directory=directory)

    def _workspace(self, stack: contextlib.ExitStack, key: tuple[str, str]) -> tuple[Path, dict[str, str]]:
        directory = Path(tempfile.mkdtemp(prefix="longrun-race-"))
        stack.callback(shutil.rmtree, directory, True)
        return directory, self._prepare(directory, *key)

    async def _launch_both(
        self, env: dict[str, str], stack: contextlib.ExitStack, report: Report
    ) -> tuple[dict[str, str], list[subprocess.Popen[bytes]]]:
        pending = set(LANE_SERVERS.values())

        def say() -> None:
            report("starting " + "; ".join(f"{name} ({WHY_SLOW[name]})" for name in sorted(pending)))

        def launch(name: str) -> tuple[str, str, subprocess.Popen[bytes]]:
            options: dict[str, Any] = {"workers": WORKERS} if name == "gunicorn" else {}
            url, process = stack.enter_context(self._launcher(name, env=env, cwd=ROOT, **options))
            return name, url, process

        say()
        tasks = [asyncio.create_task(asyncio.to_thread(launch, name)) for name in sorted(pending)]
        started: dict[str, tuple[str, subprocess.Popen[bytes]]] = {}
        try:
            for next_done in asyncio.as_completed(tasks):
                name, url, process = await next_done
                started[name] = (url, process)
                pending.discard(name)
                if pending:
                    say()
        finally:
            # When one fails, the other's thread still runs: wait for it, so that the stack can stop its server.
            await asyncio.gather(*tasks, return_exceptions=True)
        urls = {lane: started[server][0] for lane, server in LANE_SERVERS.items()}
        return urls, [process for _, process in started.values()]

    def _cancel_idle_stop(self) -> None:
        if self._idle_stop is not None:
            self._idle_stop.cancel()
            self._idle_stop = None

    def _schedule_idle_stop(self) -> None:
        if self._watchers or self._in_use or self._running is None:
            return
        self._cancel_idle_stop()
        loop = asyncio.get_running_loop()
        self._idle_stop = loop.call_later(self.keep_warm_s, lambda: loop.create_task(self._stop_if_idle()))

    async def _stop_if_idle(self) -> None:
        self._idle_stop = None
        if not (self._watchers or self._in_use):
            await self.astop()


def _close(running: _Running) -> None:
    running.stack.close()


servers = RaceServers()
