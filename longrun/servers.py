"""The command line of each server a Django project can run under, in one place.

Used by ``manage.py serve``, the end-to-end tests and the benchmark, so that the README, the tests and the
measured numbers all start a server the same way. Each entry notes what the server model means for a slow
LLM call.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Interface = Literal["wsgi", "asgi"]


@dataclass(frozen=True, slots=True)
class Server:
    name: str
    interface: Interface
    summary: str


SERVERS: dict[str, Server] = {
    s.name: s
    for s in [
        Server("daphne", "asgi", "Channels' reference ASGI server: one process, one event loop, HTTP and WebSockets."),
        Server("uvicorn", "asgi", "ASGI on uvloop/asyncio; Django needs --lifespan off."),
        Server("granian", "asgi", "Rust ASGI server; Django's 6.1 docs cover it."),
        Server("runserver", "wsgi", "Django's threaded WSGI dev server: a thread per request, no WebSockets."),
        Server("runserver-asgi", "asgi", "daphne's runserver (daphne in INSTALLED_APPS): ASGI with autoreload."),
        Server("gunicorn", "wsgi", "gunicorn sync workers: one request per worker, the PHP-FPM analog (-w 5)."),
        Server("gthread", "wsgi", "gunicorn gthread workers: threads per worker, more in flight at a thread each."),
        Server("floor", "asgi", "a bare ASGI app with no Django under uvicorn: the benchmark's floor."),
    ]
}


def server_command(
    name: str,
    *,
    host: str,
    port: int,
    asgi_app: str = "project.asgi:application",
    wsgi_app: str = "project.wsgi:application",
    workers: int = 5,
    threads: int = 32,
    python: str = sys.executable,
    app: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Returns the argv and the extra environment that start server ``name`` on host:port."""
    bind = f"{host}:{port}"
    if name == "floor":
        # The benchmark's floor: a bare ASGI app (no Django) under uvicorn, given by ``app``.
        return [python, "-m", "uvicorn", "--host", host, "--port", str(port), "--no-access-log", app or asgi_app], {}
    if name == "daphne":
        return [python, "-m", "daphne", "-b", host, "-p", str(port), asgi_app], {}
    if name == "uvicorn":
        # Django's ASGI handler refuses the lifespan protocol; "auto" would log a spurious error at start-up.
        return [
            python,
            "-m",
            "uvicorn",
            "--host",
            host,
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
            asgi_app,
        ], {}
    if name == "granian":
        return [python, "-m", "granian", "--interface", "asgi", "--host", host, "--port", str(port), asgi_app], {}
    if name == "runserver":
        return [python, "manage.py", "runserver", "--noreload", bind], {"DJANGO_RUNSERVER": "wsgi"}
    if name == "runserver-asgi":
        return [python, "manage.py", "runserver", "--noreload", bind], {"DJANGO_RUNSERVER": "asgi"}
    if name == "gunicorn":
        return [
            python,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-k",
            "sync",
            "-b",
            bind,
            "--timeout",
            "120",
            wsgi_app,
        ], {}
    if name == "gthread":
        return [
            python,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-k",
            "gthread",
            "--threads",
            str(threads),
            "-b",
            bind,
            "--timeout",
            "120",
            wsgi_app,
        ], {}
    known = ", ".join(SERVERS)
    raise ValueError(f"Unknown server {name!r}: choose one of {known}.")


def free_port(host: str = "127.0.0.1") -> int:
    """Returns a port nothing listens on now (the OS's pick)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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
    """Called after starting a server: returns once it answers HTTP, raises if it exits or times out."""
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
    name: str,
    *,
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
    **options: Any,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Starts server ``name`` on a free port; yields its base URL and process; stops it on exit, failure included."""
    port = free_port(host)
    argv, extra = server_command(name, host=host, port=port, **options)
    log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)  # noqa: SIM115
    with log:
        process = subprocess.Popen(argv, cwd=cwd, env={**env, **extra}, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            wait_until_listening(host, port, process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc} {name} said:\n{Path(log.name).read_text()[-3000:]}") from None
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
