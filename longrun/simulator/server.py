"""Running the simulator: in a child process (``SimulatorProcess``, the way to start one from Python), in the
foreground until a signal (``run``, behind every command line), or inside a running event loop
(``start_simulator``, for async tests that want a fresh simulator each). Nothing here needs Django settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any

from longrun.extras import MissingExtra

try:
    from aiohttp import web
except ImportError as exc:
    raise MissingExtra("The LLM simulator (longrun.simulator)", "simulator", "aiohttp") from exc

from longrun.simulator.app import build_app
from longrun.simulator.config import SimulatorConfig

LISTENING_PREFIX = "LLM simulator listening on "
# A load test opens its streams all at once; the default backlog of 128 would drop SYNs and add 1 s retries.
BACKLOG = 4096
# Streams still open at shutdown are cancelled after this long, so SIGTERM ends the process promptly.
SHUTDOWN_TIMEOUT_S = 1.0
# The package's parent directory, so a child process imports this same `longrun` whatever its cwd.
_IMPORT_ROOT = str(Path(__file__).resolve().parents[2])


def base_url(host: str, port: int) -> str:
    """The OpenAI base URL of a simulator listening on ``host:port`` (it ends in ``/v1``)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


def listening_line(url: str) -> str:
    """The one line a simulator prints on stdout once it listens; ``SimulatorProcess`` and scripts wait for it."""
    return LISTENING_PREFIX + url


async def start_simulator(config: SimulatorConfig | None = None) -> tuple[web.AppRunner, str]:
    """Serve a simulator on the running loop; returns its runner and base URL. Stop it with ``runner.cleanup()``."""
    config = config or SimulatorConfig()
    # Without handler_cancellation aiohttp (>= 3.9) would keep sleeping for a client that is gone.
    runner = web.AppRunner(
        build_app(config), handler_cancellation=True, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port, backlog=BACKLOG).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, base_url(config.host, runner.addresses[0][1])


async def serve(
    config: SimulatorConfig, on_listening: Callable[[str], None], stop: asyncio.Event | None = None
) -> None:
    """Serve until SIGINT/SIGTERM (or until ``stop`` is set), then shut down cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    runner, url = await start_simulator(config)
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Signal handlers only exist in the main thread; elsewhere the caller sets `stop`.
            with contextlib.suppress(ValueError, NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        on_listening(url)
        await stop.wait()
    finally:
        await runner.cleanup()


def run(config: SimulatorConfig, on_listening: Callable[[str], None] | None = None) -> None:
    """Serve in the foreground until a signal, printing the listening line first (the command lines' body)."""
    _run_loop(serve(config, on_listening or _print_listening))


def _print_listening(url: str) -> None:
    print(listening_line(url), flush=True)


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` on uvloop's loop when uvloop is installed (it is optional) and Python is 3.11+, else asyncio's."""
    factory = _uvloop_factory()
    if factory is not None and sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(main)
    else:
        asyncio.run(main)


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        uvloop: Any = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def fetch_stats(base_url: str, *, timeout: float = 10.0) -> dict[str, int]:
    """The counters (``GET /stats``: active, peak_active, completed, cancelled, errors) of the simulator at
    ``base_url`` (``http://host:port/v1``), wherever it runs. Blocking: call it off the event loop."""
    with urllib.request.urlopen(base_url.removesuffix("/").removesuffix("/v1") + "/stats", timeout=timeout) as reply:
        counters: dict[str, int] = json.load(reply)
    return counters


def settled_stats(base_url: str, *, timeout: float = 10.0) -> dict[str, int]:
    """The counters once no call is active, or as they are when ``timeout`` has passed. A call's last chunk
    reaches its client a moment before the simulator counts the call as ended, and a client may close late: read
    the counters of a finished run with this, not with ``fetch_stats``. Blocking: call it off the event loop."""
    deadline = time.monotonic() + timeout
    stats = fetch_stats(base_url)
    while stats["active"] and time.monotonic() < deadline:
        time.sleep(0.05)
        stats = fetch_stats(base_url)
    return stats


class SimulatorProcess:
    """A simulator in a child process (``python -m longrun.simulator``), for tests, fixtures and benchmarks.

    ``with SimulatorProcess(SimulatorConfig(ttft_ms=50, tokens=20)) as simulator:`` starts it, waits for its
    listening line (``startup_timeout`` seconds at most) and gives ``simulator.base_url`` (``http://...:PORT/v1``,
    the real port when the config's is 0); leaving the block stops it. ``start()`` and ``stop()`` do the same
    by hand. ``python`` is the interpreter of the child: one where longrun and aiohttp are installed.
    """

    def __init__(
        self, config: SimulatorConfig | None = None, *, startup_timeout: float = 30.0, python: str = sys.executable
    ) -> None:
        self.config = config or SimulatorConfig()
        self.command = [python, "-m", "longrun.simulator", *self.config.argv()]
        self.startup_timeout = startup_timeout
        self.popen: subprocess.Popen[bytes] | None = None
        self.base_url = ""

    @property
    def pid(self) -> int:
        """The child's process id (a benchmark measures the simulator's CPU and memory by it)."""
        if self.popen is None:
            raise RuntimeError("The simulator process is not running: start() it first.")
        return self.popen.pid

    def start(self) -> str:
        """Start the child and wait for its listening line; returns the base URL."""
        if self.popen is not None:
            raise RuntimeError("This simulator process is already running.")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_IMPORT_ROOT, os.environ.get("PYTHONPATH")]))}
        self.popen = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, env=env)
        try:
            line = self._read_line(self.popen)
        except BaseException:
            self.stop()
            raise
        if not line.startswith(LISTENING_PREFIX):
            self.stop()
            raise RuntimeError(f"The simulator printed {line!r} instead of its listening line.")
        self.base_url = line[len(LISTENING_PREFIX) :]
        return self.base_url

    def stats(self) -> dict[str, int]:
        """The child's ``GET /stats`` counters: active, peak_active, completed, cancelled, errors. Blocking: off
        the loop."""
        return fetch_stats(self._url())

    def settled_stats(self, *, timeout: float = 10.0) -> dict[str, int]:
        """The counters once no call is active (``settled_stats``). Blocking: off the loop."""
        return settled_stats(self._url(), timeout=timeout)

    def reset_stats(self) -> dict[str, int]:
        """``POST /stats/reset``: zeroes the finished counters and restarts the peak; returns the new counters.
        Blocking: off the loop."""
        reset = urllib.request.Request(self._url().removesuffix("/v1") + "/stats/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=10) as reply:
            counters: dict[str, int] = json.load(reply)
        return counters

    def _url(self) -> str:
        if not self.base_url:
            raise RuntimeError("The simulator process is not running: start() it first.")
        return self.base_url

    def _read_line(self, popen: subprocess.Popen[bytes]) -> str:
        """The child's first stdout line, within the startup timeout."""
        assert popen.stdout is not None
        fd = popen.stdout.fileno()
        deadline = time.monotonic() + self.startup_timeout
        data = b""
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in data:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"The simulator did not listen within {self.startup_timeout} s.")
                if not selector.select(remaining):
                    continue
                # os.read, not the buffered file: a buffered read could wait for more than this line.
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise RuntimeError(f"The simulator exited with {popen.wait()} before listening.")
                data += chunk
        return data.split(b"\n", 1)[0].decode().strip()

    def stop(self) -> None:
        """Stop the child: SIGTERM, then SIGKILL if it has not exited within 10 s."""
        popen, self.popen = self.popen, None
        self.base_url = ""
        if popen is None:
            return
        if popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
        if popen.stdout is not None:
            popen.stdout.close()

    def __enter__(self) -> SimulatorProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
