"""The race: N users, one LLM call each, against the sync path on 5 gunicorn sync workers and the async path on daphne.

Started on demand by a staff user through the dashboard socket (``DashboardConsumer``). It runs as one task on the
dashboard server's event loop: it starts both servers (``longrun.servers.running_server``, the command lines the
benchmark uses, on a SQLite database of the race's own), sends every user's request to both at once, reads each
streamed answer token by token, and publishes the progress of every user to the ``GROUP`` channel-layer group
five times a second. The dashboard draws each user as a bar: the worker pool fills five at a time, the async
server all of them at once. Only one race runs at a time per process (the dashboard's server).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from django.conf import settings

from longrun.bridges import agroup_send
from longrun.servers import running_server

ROOT = Path(__file__).resolve().parents[2]
GROUP = "longrun.race"
MESSAGE_TYPE = "race.update"
MAX_USERS = 64
DEFAULT_USERS = 16
# Every answer is cut at this many tokens, so a bar is full at a known count whatever the LLM's default length.
TOKENS = 20
WORKERS = 5
TICK_S = 0.2


@dataclass(slots=True)
class Lane:
    """One side of the race: its server, and per user the tokens received and the state of the request."""

    name: str
    server: str
    path: str
    users: int
    tokens: list[int] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    finished_s: float | None = None

    def __post_init__(self) -> None:
        self.tokens = [0] * self.users
        self.states = ["waiting"] * self.users

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "server": self.server,
            "path": self.path,
            "tokens": list(self.tokens),
            "states": list(self.states),
            "done": sum(1 for s in self.states if s in {"done", "error"}),
            "streaming": sum(1 for s in self.states if s == "streaming"),
            "finished_s": self.finished_s,
        }


@dataclass(slots=True)
class Race:
    """The state of one race, sent whole to the dashboard at each tick."""

    users: int
    state: str = "starting"
    error: str = ""
    started: float = field(default_factory=time.monotonic)
    running_since: float | None = None
    lanes: dict[str, Lane] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lanes = {
            "sync": Lane("sync", f"gunicorn -w {WORKERS} (sync workers)", "/api/sync/stream", self.users),
            "async": Lane("async", "daphne (ASGI)", "/api/async/stream", self.users),
        }

    def as_dict(self) -> dict[str, Any]:
        since = self.running_since
        return {
            "state": self.state,
            "error": self.error,
            "users": self.users,
            "tokens_per_answer": TOKENS,
            "elapsed_s": round(time.monotonic() - since, 2) if since is not None else 0.0,
            "lanes": {name: lane.as_dict() for name, lane in self.lanes.items()},
        }


_current: Race | None = None
_task: asyncio.Task[None] | None = None
Runner = Callable[[Race], Coroutine[Any, Any, None]]


def current() -> Race | None:
    """Called by the consumer on connect: the running or last race of this process, to show at once."""
    return _current


def is_running() -> bool:
    """Called by ``start``: whether a race task of this process has not finished yet."""
    return _task is not None and not _task.done()


def start(users: int, *, runner: Runner | None = None) -> Race | None:
    """Called by the consumer on the server's loop: starts a race, or returns None when one is running already."""
    global _current, _task
    # No await between the check and the creation: on one loop, two sockets cannot both get past it.
    if is_running():
        return None
    race = Race(users=users)
    _current = race
    _task = asyncio.get_running_loop().create_task((runner or run)(race))
    return race


async def _publish(race: Race) -> None:
    await agroup_send(GROUP, {"type": MESSAGE_TYPE, "race": race.as_dict()})


async def _tick(race: Race) -> None:
    while True:
        await _publish(race)
        await asyncio.sleep(TICK_S)


def _prepare_database() -> tuple[Path, dict[str, str]]:
    """Called in a thread: a migrated SQLite file of the race's own, and the environment of its servers."""
    directory = Path(tempfile.mkdtemp(prefix="longrun-race-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "project.settings"),
        "DATABASE_URL": f"sqlite:///{directory / 'race.sqlite3'}",
        "LLM_BASE_URL": settings.LLM_BASE_URL,
        "LLM_MODEL": settings.LLM_MODEL,
        "LLM_REQUIRE_AUTH": "false",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    return directory, env


async def _user(session: aiohttp.ClientSession, base: str, lane: Lane, index: int, race: Race) -> None:
    """One user: posts a prompt to the lane's stream endpoint and counts each token event as it arrives."""
    payload = {"prompt": f"Race user {index + 1} on the {lane.name} path", "max_tokens": TOKENS}
    try:
        async with session.post(base + lane.path, json=payload) as response:
            if response.status != 200:
                lane.states[index] = "error"
                return
            event = "message"
            async for raw in response.content:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    event = line.partition(":")[2].strip()
                elif not line:
                    if event == "token":
                        lane.states[index] = "streaming"
                        lane.tokens[index] += 1
                    elif event in {"done", "error"}:
                        lane.states[index] = "done" if event == "done" else "error"
                        break
                    event = "message"
            else:
                lane.states[index] = "error"
    except (TimeoutError, aiohttp.ClientError, OSError):
        lane.states[index] = "error"
    finally:
        if race.running_since is not None and all(s in {"done", "error"} for s in lane.states):
            lane.finished_s = round(time.monotonic() - race.running_since, 2)


async def run(race: Race) -> None:
    """Runs as the race task: starts both servers, loads them with every user at once, stops them."""
    ticker = asyncio.create_task(_tick(race))
    servers = contextlib.ExitStack()
    directory: Path | None = None
    try:
        directory, env = await asyncio.to_thread(_prepare_database)
        # Started in threads: running_server waits (blocking) until each server answers HTTP.
        sync_url, _ = await asyncio.to_thread(
            servers.enter_context, running_server("gunicorn", env=env, cwd=ROOT, workers=WORKERS)
        )
        async_url, _ = await asyncio.to_thread(servers.enter_context, running_server("daphne", env=env, cwd=ROOT))
        urls = {"sync": sync_url, "async": async_url}
        race.state, race.running_since = "running", time.monotonic()
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
            await asyncio.gather(
                *(
                    _user(session, urls[name], lane, index, race)
                    for name, lane in race.lanes.items()
                    for index in range(race.users)
                )
            )
        race.state = "done"
    except Exception as exc:  # noqa: BLE001 (the dashboard shows why the race stopped)
        race.state, race.error = "error", f"{type(exc).__name__}: {exc}"[:500]
    finally:
        ticker.cancel()
        await asyncio.to_thread(servers.close)
        if directory is not None:
            await asyncio.to_thread(shutil.rmtree, directory, True)
        await _publish(race)


def parse_users(value: Any) -> int | None:
    """Called by the consumer on a start request: the number of users, or None when it is not 1..MAX_USERS."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_USERS:
        return None
    return value
