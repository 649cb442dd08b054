"""Starting the simulator: in this event loop (``start_simulator``), in the foreground until a signal
(``run``, behind the management command and ``python -m longrun.simulator``), or in a child process for
tests and benchmarks (``run_simulator_process``, ``SimulatorProcess``). Nothing here needs Django settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from longrun.simulator.app import build_app
from longrun.simulator.config import DEFAULT_HOST, DEFAULT_TOKEN_MS, DEFAULT_TOKENS, DEFAULT_TTFT_MS, SimulatorConfig

LISTENING_PREFIX = "LLM simulator listening on "
# A load test opens its streams all at once; the default backlog of 128 would drop SYNs and add 1 s retries.
BACKLOG = 4096
# Streams still open at shutdown are cancelled after this long, so SIGTERM ends the process promptly.
SHUTDOWN_TIMEOUT_S = 1.0
# The package's parent directory, so a child process imports this same `longrun` whatever its cwd.
_IMPORT_ROOT = str(Path(__file__).resolve().parents[2])


def base_url(host: str, port: int) -> str:
    """Called once listening: the OpenAI base URL clients are given (it ends in ``/v1``)."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


def listening_line(url: str) -> str:
    """Called once listening: the one line printed on stdout, which tests and ``SimulatorProcess`` wait for."""
    return LISTENING_PREFIX + url


async def start_simulator(
    config: SimulatorConfig | None = None, host: str = DEFAULT_HOST, port: int = 0
) -> tuple[web.AppRunner, str]:
    """Called from a running loop: serves the simulator there; the caller awaits ``runner.cleanup()`` to stop it."""
    # Without handler_cancellation aiohttp (>= 3.9) would keep sleeping for a client that is gone.
    runner = web.AppRunner(
        build_app(config), handler_cancellation=True, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, backlog=BACKLOG).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, base_url(host, runner.addresses[0][1])


async def serve(
    config: SimulatorConfig,
    host: str,
    port: int,
    on_listening: Callable[[str], None],
    stop: asyncio.Event | None = None,
) -> None:
    """Called by ``run``: serves until SIGINT/SIGTERM (or ``stop`` is set), then shuts down cleanly."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    runner, url = await start_simulator(config, host, port)
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Signal handlers only exist in the main thread; elsewhere the caller sets `stop`.
            with contextlib.suppress(ValueError, NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        on_listening(url)
        await stop.wait()
    finally:
        await runner.cleanup()


def run(config: SimulatorConfig, host: str, port: int, on_listening: Callable[[str], None] | None = None) -> None:
    """Called by the command-line entry points: blocks until a signal, printing the listening line first."""
    asyncio.run(serve(config, host, port, on_listening or _print_listening), loop_factory=_loop_factory())


def _print_listening(url: str) -> None:
    """Called once listening when no other callback was given."""
    print(listening_line(url), flush=True)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """Called by ``run``: uvloop's loop when it is installed (it is optional), else asyncio's default."""
    try:
        uvloop: Any = importlib.import_module("uvloop")
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


class SimulatorProcess:
    """The simulator in a child process (``python -m longrun.simulator``), started and stopped as a context manager."""

    def __init__(
        self,
        *,
        ttft_ms: float = DEFAULT_TTFT_MS,
        token_ms: float = DEFAULT_TOKEN_MS,
        tokens: int = DEFAULT_TOKENS,
        host: str = DEFAULT_HOST,
        port: int = 0,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 30.0,
        python: str = sys.executable,
    ) -> None:
        self.command = [
            python, "-m", "longrun.simulator", "--host", host, "--port", str(port),
            "--ttft-ms", str(ttft_ms), "--token-ms", str(token_ms), "--tokens", str(tokens), *extra_args,
        ]  # fmt: skip
        self.startup_timeout = startup_timeout
        self.popen: subprocess.Popen[bytes] | None = None
        self.base_url = ""

    @property
    def pid(self) -> int:
        """Called by benchmarks that measure the child: its process id."""
        if self.popen is None:
            raise RuntimeError("The simulator process is not running.")
        return self.popen.pid

    def start(self) -> str:
        """Called on entering the context: starts the child and waits for its listening line."""
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
        self.base_url = line.removeprefix(LISTENING_PREFIX)
        return self.base_url

    def _read_line(self, popen: subprocess.Popen[bytes]) -> str:
        """Called by ``start``: the child's first stdout line, within the startup timeout."""
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
        """Called on leaving the context: SIGTERM, then SIGKILL if the child does not exit in time."""
        popen, self.popen = self.popen, None
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

    def __enter__(self) -> Self:
        """Called by ``with``: the started process."""
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Called by ``with``: stops the process whatever happened."""
        self.stop()


@contextlib.contextmanager
def run_simulator_process(
    *,
    ttft_ms: float = DEFAULT_TTFT_MS,
    token_ms: float = DEFAULT_TOKEN_MS,
    tokens: int = DEFAULT_TOKENS,
    host: str = DEFAULT_HOST,
    extra_args: Sequence[str] = (),
) -> Iterator[str]:
    """Called from tests and fixtures: runs a simulator process on a free port and yields its base URL (``.../v1``)."""
    with SimulatorProcess(
        ttft_ms=ttft_ms, token_ms=token_ms, tokens=tokens, host=host, extra_args=extra_args
    ) as process:
        yield process.base_url
