"""The demo's servers: longrun's command lines with this project's applications, and Django's runserver twins.

``longrun.servers`` knows no project: its caller names the application. This module names ours, by dotted path
(a string: nothing is imported), so the ``serve`` command, the benchmark, the race and the tests all start a
server the same way. The demo's ``runserver`` comes in two: ``DJANGO_RUNSERVER`` (a setting of this project)
picks Django's threaded WSGI one or daphne's ASGI one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from subprocess import Popen
from typing import Any

from longrun import servers as longrun_servers
from longrun.servers import Launch, Server

ROOT = Path(__file__).resolve().parents[1]
ASGI_APP = "project.asgi:application"
WSGI_APP = "project.wsgi:application"

_runserver = longrun_servers.SERVERS["runserver"]
SERVERS: dict[str, Server] = {
    **longrun_servers.SERVERS,
    "runserver": replace(
        _runserver,
        summary="Django's threaded WSGI dev server: a thread per request, no WebSockets.",
        env={"DJANGO_RUNSERVER": "wsgi"},
    ),
    "runserver-asgi": replace(
        _runserver,
        name="runserver-asgi",
        interface="asgi",
        summary="daphne's runserver (daphne in INSTALLED_APPS): ASGI with autoreload.",
        env={"DJANGO_RUNSERVER": "asgi"},
    ),
}
# Processes a server runs when none are asked for: the worker pools are the "before" of 5 workers.
DEFAULT_WORKERS = {"gunicorn": 5, "gthread": 5}


def app_for(server: Server) -> str:
    """The project's application for the interface ``server`` speaks."""
    return ASGI_APP if server.interface == "asgi" else WSGI_APP


def launch(server: Server, *, host: str, port: int, workers: int | None = None, **options: Any) -> Launch:
    """A ``Launch`` of the project's application on ``server``; ``workers`` defaults per server.

    The project's ASGI application answers the lifespan protocol (longrun's handler): its warm-up runs before
    the first user, its drain at the end.
    """
    count = workers if workers is not None else DEFAULT_WORKERS.get(server.name, 1)
    options.setdefault("lifespan", server.interface == "asgi")
    return Launch(app=app_for(server), host=host, port=port, workers=count, **options)


def server_command(name: str, *, host: str, port: int, **options: Any) -> tuple[list[str], dict[str, str]]:
    """The argv and extra environment that start the demo on server ``name``."""
    server = longrun_servers.server_named(name, SERVERS)
    return server.command(launch(server, host=host, port=port, **options))


@contextmanager
def running_server(
    name: str | Server,
    *,
    env: Mapping[str, str],
    cwd: str | os.PathLike[str] | None = ROOT,
    workers: int | None = None,
    app: str | None = None,
    **options: Any,
) -> Iterator[tuple[str, Popen[bytes]]]:
    """Starts the demo on ``name`` (a name of ``SERVERS``, or a ``Server``) on a free port: its URL and process."""
    server = name if isinstance(name, Server) else longrun_servers.server_named(name, SERVERS)
    count = workers if workers is not None else DEFAULT_WORKERS.get(server.name, 1)
    options.setdefault("lifespan", server.interface == "asgi")
    with longrun_servers.running_server(
        server, app=app or app_for(server), env=env, cwd=cwd, workers=count, **options
    ) as started:
        yield started
