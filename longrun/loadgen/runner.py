"""N concurrent users, all starting at once, each sending its requests one after another.

``run_load`` is the engine of a server comparison (``run_users`` under it takes any request coroutine): every
user is a task that waits on one start signal, so the burst reaches the server together; each then sends
``requests_per_user`` requests (or keeps sending until ``duration_s`` has passed, finishing the request in
flight). The run records every ``RequestResult``, the wall clock of the burst, and the load generator's own CPU,
to show that the client was not the bottleneck.
"""

from __future__ import annotations

import asyncio
import resource
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from longrun.loadgen.clients import (
    DEFAULT_TIMEOUT_S,
    Kind,
    RequestResult,
    make_session,
    post_json,
    post_sse,
    websocket,
)

if TYPE_CHECKING:
    import aiohttp  # imported, or reported missing with its extra, by longrun.loadgen.clients

# (user index, request index of that user) -> the request body (or WebSocket prompt).
PayloadFactory = Callable[[int, int], Mapping[str, Any]]
# Sockets a user may hold besides its own connection: the listening ends, the event loop, stdio, logs.
_SPARE_FDS = 256


@dataclass(frozen=True, slots=True)
class ClientCpu:
    """The load generator's own CPU over the run: this process, every thread (a sampler thread included)."""

    user_s: float
    system_s: float
    wall_s: float

    @property
    def seconds(self) -> float:
        return self.user_s + self.system_s

    @property
    def percent(self) -> float:
        """Percent of one core; near 100 means the load generator, not the server, set the pace."""
        return 100.0 * self.seconds / self.wall_s if self.wall_s > 0 else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"user_s": self.user_s, "system_s": self.system_s, "seconds": self.seconds, "percent": self.percent}


@dataclass(frozen=True, slots=True)
class LoadRun:
    """What one run did: its parameters, every request, and the wall clock of the burst (perf_counter)."""

    kind: Kind
    url: str
    concurrency: int
    requests_per_user: int | None  # None when the run was bounded by duration_s
    duration_s: float | None
    results: list[RequestResult]
    wall_start: float  # perf_counter() when the users were released
    wall_end: float  # perf_counter() when the last user finished
    started_at: float  # time.time() at wall_start, to place the run on a calendar
    client_cpu: ClientCpu
    nofile_limit: int = field(default=0)

    @property
    def wall_s(self) -> float:
        return self.wall_end - self.wall_start


def raise_nofile_limit(needed: int) -> int:
    """Raises this process's soft limit on open files toward the hard limit when ``needed`` is above it.

    Returns the soft limit in force afterwards. Thousands of users hold thousands of sockets; the common soft
    limit of 1024 would turn the burst into ``connect`` errors of the client's own making.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


# (user index, request index of that user) -> that request's result, however it is sent.
Request = Callable[[int, int], Awaitable[RequestResult]]


@dataclass(frozen=True, slots=True)
class Burst:
    """What ``run_users`` measured: every result, in order of start, and the clocks around them."""

    results: list[RequestResult]
    wall_start: float  # perf_counter() when the users were released
    wall_end: float  # perf_counter() when the last user finished
    started_at: float  # time.time() at wall_start
    client_cpu: ClientCpu
    nofile_limit: int


async def run_users(
    *, concurrency: int, request: Request, requests_per_user: int = 1, duration_s: float | None = None
) -> Burst:
    """Releases ``concurrency`` users at once, each awaiting ``request(user, index)`` in turn, and times it all.

    The engine under ``run_load``, for any request a coroutine can make (an SDK's stream, a custom protocol):
    every user waits on one start signal, then sends ``requests_per_user`` requests one after another, or keeps
    sending until ``duration_s`` after the start (finishing the one in flight). Raises this process's open-file
    limit to fit a socket per user first.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1.")
    if duration_s is None and requests_per_user < 1:
        raise ValueError("requests_per_user must be at least 1.")
    nofile = raise_nofile_limit(concurrency + _SPARE_FDS)
    results: list[list[RequestResult]] = [[] for _ in range(concurrency)]
    ready = 0
    all_ready = asyncio.Event()
    go = asyncio.Event()
    deadline = 0.0

    async def user(number: int) -> None:
        nonlocal ready
        ready += 1
        if ready == concurrency:
            all_ready.set()
        await go.wait()
        index = 0
        while (index < requests_per_user) if duration_s is None else (time.perf_counter() < deadline):
            results[number].append(await request(number, index))
            index += 1

    tasks: list[asyncio.Task[None]] = []
    try:
        tasks = [asyncio.create_task(user(n)) for n in range(concurrency)]
        await all_ready.wait()  # every user is parked on `go`: none has had a head start
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        wall_start, started_at = time.perf_counter(), time.time()
        deadline = wall_start + (duration_s or 0.0)
        go.set()
        await asyncio.gather(*tasks)
        wall_end = time.perf_counter()
        usage_after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        unfinished = [task for task in tasks if not task.done()]
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)

    cpu = ClientCpu(
        user_s=usage_after.ru_utime - usage_before.ru_utime,
        system_s=usage_after.ru_stime - usage_before.ru_stime,
        wall_s=wall_end - wall_start,
    )
    ordered = sorted((r for rs in results for r in rs), key=lambda r: r.started)
    return Burst(ordered, wall_start, wall_end, started_at, cpu, nofile)


# How each kind sends one request: (session, url, payload, WebSocket origin, timeout) -> its result.
Send = Callable[["aiohttp.ClientSession", str, Mapping[str, Any], "str | None", float], Awaitable[RequestResult]]
CLIENTS: dict[Kind, Send] = {
    "json": lambda session, url, payload, origin, timeout_s: post_json(session, url, payload),
    "sse": lambda session, url, payload, origin, timeout_s: post_sse(session, url, payload),
    "websocket": lambda session, url, payload, origin, timeout_s: websocket(url, origin, payload, timeout_s=timeout_s),
}


async def run_load(
    *,
    kind: Kind,
    url: str,
    concurrency: int,
    payload_factory: PayloadFactory,
    requests_per_user: int = 1,
    duration_s: float | None = None,
    origin: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    session: aiohttp.ClientSession | None = None,
) -> LoadRun:
    """Runs ``concurrency`` users against ``url`` with the client of ``kind`` and returns every request they made.

    ``kind`` picks the client from ``CLIENTS`` (``json``: ``post_json``, ``sse``: ``post_sse``, ``websocket``:
    ``websocket``, with ``origin`` as the handshake's Origin). With ``duration_s``, each user keeps sending until
    that many seconds after the start and ``requests_per_user`` is ignored. A ``session`` of the caller's is used
    as it is and left open; otherwise one is made for the run, with a connection per user.
    """
    send = CLIENTS.get(kind)
    if send is None:
        raise ValueError(f"Unknown kind {kind!r}: choose one of {', '.join(CLIENTS)}.")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1.")
    http = make_session(concurrency, timeout_s=timeout_s) if session is None else session

    async def one(user: int, index: int) -> RequestResult:
        return await send(http, url, payload_factory(user, index), origin, timeout_s)

    try:
        burst = await run_users(
            concurrency=concurrency, request=one, requests_per_user=requests_per_user, duration_s=duration_s
        )
    finally:
        if session is None:
            await http.close()
    return LoadRun(
        kind=kind,
        url=url,
        concurrency=concurrency,
        requests_per_user=None if duration_s is not None else requests_per_user,
        duration_s=duration_s,
        results=burst.results,
        wall_start=burst.wall_start,
        wall_end=burst.wall_end,
        started_at=burst.started_at,
        client_cpu=burst.client_cpu,
        nofile_limit=burst.nofile_limit,
    )
