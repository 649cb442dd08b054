"""How to start each server a Django project can run under, tuned not to throttle a slow-call workload.

Each ``Server`` carries its own argv builder: given a ``Launch`` (your application's dotted path, host, port,
processes), it returns the command line. The builders set what the servers' defaults get wrong for thousands of
long requests:

* **listen backlog**: a burst of users connecting at once overflows a short accept queue, and the kernel drops
  connections that the clients retry seconds later. Daphne's Twisted endpoint listens with a backlog of 50 and
  granian, uvicorn and gunicorn with 1024-2048; every builder asks for ``Launch.backlog`` (4096, Linux's default
  ``net.core.somaxconn``).
* **granian's backpressure**: by default granian serves at most backlog / workers requests at once per worker and
  queues the rest; ``Launch.backpressure`` raises it.
* **uvloop**: uvicorn and granian run on uvloop when it is installed (a faster loop, less CPU per request).
  Daphne runs on Twisted's reactor over asyncio's own loop, so there is no uvloop for it.
* **processes**: ``Launch.workers`` processes on one port: gunicorn's, uvicorn's and granian's own workers; for
  daphne, which has no worker model, ``longrun.prefork`` binds the socket once and starts N daphnes on it.
* **descriptors**: every in-flight request holds two sockets (the client's and the upstream's);
  ``running_server`` raises the open-file limit to its hard limit before starting a server (children inherit it).

Nothing here knows your project: the caller passes the application (``"project.asgi:application"``), and
``runserver`` runs your ``manage.py``. Add your own ``Server`` to ``SERVERS``, or pass one to ``running_server``.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Interface = Literal["wsgi", "asgi"]

DEFAULT_BACKLOG = 4096
DEFAULT_BACKPRESSURE = 16384


@dataclass(frozen=True, slots=True)
class Launch:
    """Where and how to start a server: the application, the address, the processes and their limits."""

    app: str  # the dotted path of the application object, "module:attribute"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1  # processes serving the port
    threads: int = 32  # per process, for thread-pool servers (gunicorn gthread)
    backlog: int = DEFAULT_BACKLOG
    backpressure: int = DEFAULT_BACKPRESSURE  # granian: requests one worker serves at once
    lifespan: bool = False  # send ASGI lifespan events (Django's own handler refuses them)
    python: str = sys.executable

    @property
    def bind(self) -> str:
        return f"{self.host}:{self.port}"


ArgvBuilder = Callable[[Launch], list[str]]


@dataclass(frozen=True, slots=True)
class Server:
    """A server: its name, the interface it speaks, what its model means for a slow call, its command line."""

    name: str
    interface: Interface
    summary: str
    argv: ArgvBuilder
    env: Mapping[str, str] = field(default_factory=dict)

    def command(self, launch: Launch) -> tuple[list[str], dict[str, str]]:
        """The argv and the extra environment that start this server as ``launch`` says."""
        return self.argv(launch), dict(self.env)


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _daphne(launch: Launch) -> list[str]:
    if launch.workers > 1:
        return [
            launch.python,
            "-m",
            "longrun.prefork",
            "--bind",
            launch.bind,
            "--backlog",
            str(launch.backlog),
            "--workers",
            str(launch.workers),
            "--",
            launch.python,
            "-m",
            "daphne",
            "--fd",
            "{fd}",
            launch.app,
        ]
    # A Twisted endpoint string: -b/-p would listen with Twisted's backlog of 50.
    endpoint = f"tcp:port={launch.port}:interface={launch.host}:backlog={launch.backlog}"
    return [launch.python, "-m", "daphne", "-e", endpoint, launch.app]


def _uvicorn(launch: Launch) -> list[str]:
    argv = [launch.python, "-m", "uvicorn", "--host", launch.host, "--port", str(launch.port)]
    argv += ["--backlog", str(launch.backlog), "--workers", str(launch.workers), "--no-access-log"]
    # Django's own handler refuses the lifespan protocol; "auto" would log a spurious error at start-up.
    argv += ["--lifespan", "on" if launch.lifespan else "off"]
    if _has("uvloop"):
        argv += ["--loop", "uvloop"]
    if _has("httptools"):
        argv += ["--http", "httptools"]
    return [*argv, launch.app]


def _granian(launch: Launch) -> list[str]:
    argv = [launch.python, "-m", "granian", "--interface", "asgi" if launch.lifespan else "asginl"]
    argv += ["--host", launch.host, "--port", str(launch.port), "--workers", str(launch.workers)]
    argv += ["--backlog", str(launch.backlog), "--backpressure", str(launch.backpressure)]
    if _has("uvloop"):
        argv += ["--loop", "uvloop"]
    return [*argv, launch.app]


def _gunicorn(launch: Launch) -> list[str]:
    return [
        *(launch.python, "-m", "gunicorn", "-w", str(launch.workers), "-k", "sync", "-b", launch.bind),
        *("--backlog", str(launch.backlog), "--timeout", "120", launch.app),
    ]


def _gthread(launch: Launch) -> list[str]:
    return [
        *(launch.python, "-m", "gunicorn", "-w", str(launch.workers), "-k", "gthread"),
        *("--threads", str(launch.threads), "-b", launch.bind, "--backlog", str(launch.backlog)),
        *("--timeout", "120", launch.app),
    ]


def _runserver(launch: Launch) -> list[str]:
    # Your manage.py in the working directory decides which runserver this is (daphne's when daphne is an app).
    return [launch.python, "manage.py", "runserver", "--noreload", launch.bind]


SERVERS: dict[str, Server] = {
    s.name: s
    for s in [
        Server(
            "daphne", "asgi", "Channels' reference ASGI server: HTTP and WebSockets, one event loop a process.", _daphne
        ),
        Server("uvicorn", "asgi", "ASGI on uvloop and httptools when installed.", _uvicorn),
        Server("granian", "asgi", "Rust ASGI server; Django's 6.1 docs cover it.", _granian),
        Server(
            "gunicorn", "wsgi", "gunicorn sync workers: one request per worker, the PHP-FPM analog (-w 5).", _gunicorn
        ),
        Server("gthread", "wsgi", "gunicorn gthread workers: a thread per in-flight request.", _gthread),
        Server("runserver", "wsgi", "Django's development server, from manage.py (the app is not used).", _runserver),
    ]
}


def server_named(name: str, servers: Mapping[str, Server] = SERVERS) -> Server:
    """The server called ``name``; raises ValueError listing the known names."""
    try:
        return servers[name]
    except KeyError:
        raise ValueError(f"Unknown server {name!r}: choose one of {', '.join(servers)}.") from None


def free_port(host: str = "127.0.0.1") -> int:
    """Returns a port nothing listens on now (the OS's pick)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def raise_open_file_limit() -> int:
    """Raises this process's soft limit on open files to its hard limit; returns the limit now in force.

    A server started afterwards inherits it: every in-flight request holds two sockets, so the common soft limit
    of 1024 would cap a server at about 500 requests in flight.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
        return hard
    return soft


PROBE_PATH = "/__longrun_ready__"


def _answers_http(host: str, port: int, timeout: float) -> bool:
    # A listening socket is not enough: gunicorn's master listens while its workers are still importing the
    # app. Any HTTP status (a 404 is expected) means a worker is serving.
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", PROBE_PATH)
        connection.getresponse().read()
        return True
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def wait_until_listening(host: str, port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Returns once a server started as ``process`` answers HTTP; raises if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The server exited with status {process.returncode} before listening on {port}.")
        with socket.socket() as sock:
            listening = sock.connect_ex((host, port)) == 0
        if listening and _answers_http(host, port, timeout=max(1.0, deadline - time.monotonic())):
            return
        time.sleep(0.05)
    raise RuntimeError(f"Nothing answered HTTP on {host}:{port} after {timeout:g}s.")


@contextmanager
def running_server(
    server: Server | str,
    *,
    app: str,
    env: Mapping[str, str],
    cwd: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
    **launch: Any,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Starts ``server`` with ``app`` on a free port; yields its base URL and process; stops it on exit.

    ``launch`` takes the other ``Launch`` fields (``workers``, ``threads``, ``backlog``, ``lifespan``...). The
    server's output goes to a temporary file, quoted in the error if it never answers.
    """
    if isinstance(server, str):
        server = server_named(server)
    port = free_port(host)
    argv, extra = server.command(Launch(app=app, host=host, port=port, **launch))
    raise_open_file_limit()
    log = tempfile.NamedTemporaryFile(prefix=f"{server.name}-", suffix=".log", delete=False)  # noqa: SIM115
    with log:
        process = subprocess.Popen(argv, cwd=cwd, env={**env, **extra}, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            wait_until_listening(host, port, process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc} {server.name} said:\n{Path(log.name).read_text()[-3000:]}") from None
        yield f"http://{host}:{port}", process
    finally:
        stop_process(process)
        Path(log.name).unlink(missing_ok=True)


def stop_process(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Terminates a server (its workers follow their master), killing it if it does not stop in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


__all__ = [
    "SERVERS",
    "ArgvBuilder",
    "Launch",
    "Server",
    "free_port",
    "raise_open_file_limit",
    "running_server",
    "server_named",
    "stop_process",
    "wait_until_listening",
]
