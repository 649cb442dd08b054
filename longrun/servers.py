"""The command line of each server a Django project can run under, in one place.

Used by ``manage.py serve``, the end-to-end tests and the benchmark, so that the README, the tests and the
measured numbers all start a server the same way. Each entry notes what the server model means for a slow
LLM call.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

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
) -> tuple[list[str], dict[str, str]]:
    """Returns the argv and the extra environment that start server ``name`` on host:port."""
    bind = f"{host}:{port}"
    if name == "daphne":
        return [python, "-m", "daphne", "-b", host, "-p", str(port), asgi_app], {}
    if name == "uvicorn":
        # Django's ASGI handler refuses the lifespan protocol; "auto" would log a spurious error at start-up.
        return [python, "-m", "uvicorn", "--host", host, "--port", str(port), "--lifespan", "off", "--no-access-log", asgi_app], {}
    if name == "granian":
        return [python, "-m", "granian", "--interface", "asgi", "--host", host, "--port", str(port), asgi_app], {}
    if name == "runserver":
        return [python, "manage.py", "runserver", "--noreload", bind], {"DJANGO_RUNSERVER": "wsgi"}
    if name == "runserver-asgi":
        return [python, "manage.py", "runserver", "--noreload", bind], {"DJANGO_RUNSERVER": "asgi"}
    if name == "gunicorn":
        return [python, "-m", "gunicorn", "-w", str(workers), "-k", "sync", "-b", bind, "--timeout", "120", wsgi_app], {}
    if name == "gthread":
        return [
            python, "-m", "gunicorn", "-w", str(workers), "-k", "gthread", "--threads", str(threads),
            "-b", bind, "--timeout", "120", wsgi_app,
        ], {}
    known = ", ".join(SERVERS)
    raise ValueError(f"Unknown server {name!r}: choose one of {known}.")
