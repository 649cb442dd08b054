"""The race: N users, one LLM call each, against the sync path on 5 gunicorn sync workers and the async path on daphne.

A staff user starts it through the dashboard socket (``DashboardConsumer``). It runs as one task on the
dashboard server's event loop: it gets both servers from ``race_servers`` (started, or still warm from the last
race), warms them up with one call per worker, then sends every user's request to both at once and reads each
streamed answer as it arrives. Each user's timeline is kept in seconds since the start: when its request was
sent, when its first token and its last one arrived, and how long the server's own LLM call took (the ``done``
event's ``duration_ms``), so the time before that call began is the time it waited in the server's queue. The
median of those calls is the unit of the dashboard's time axis: "one LLM call".

The state goes to the ``GROUP`` channel-layer group five times a second and once more at the end; the
dashboard draws one row per user on a time axis shared by both lanes. The clock stops when the last user of
either lane is served. Only one race runs at a time, across every server process that shares ``REDIS_URL``
(``astart`` holds a ``coordination.Lock`` for the race's whole run; without Redis there is one process).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from llm_app.dashboard.race_servers import LANE_SERVERS, WORKERS, servers
from llm_app.services import coordination
from longrun.bridges import agroup_send
from longrun.loadgen.sse import aiter_events

GROUP = "longrun.race"
MESSAGE_TYPE = "race.update"
MAX_USERS = 64
DEFAULT_USERS = 32
# Every answer is cut at this many tokens, so that every call is as long whatever the LLM's default length.
TOKENS = 20
TICK_S = 0.2
TIMEOUT_S = 600.0

RaceState = Literal["starting", "running", "done", "error"]
# ready: not sent yet; waiting: sent, no token yet (in the server's queue, then the LLM's first token).
UserState = Literal["ready", "waiting", "streaming", "done", "error"]
LANE_TITLES = {"sync": f"gunicorn -w {WORKERS} (sync workers)", "async": "daphne (ASGI)"}
LANE_PATHS = {"sync": "/api/sync/stream", "async": "/api/async/stream"}


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass(slots=True)
class Entrant:
    """One user on one lane; times are seconds since the race started running."""

    state: UserState = "ready"
    tokens: int = 0
    sent_s: float | None = None
    first_s: float | None = None
    end_s: float | None = None
    call_s: float | None = None  # the server's LLM call, from its first step to its reply (duration_ms)

    @property
    def queued_s(self) -> float | None:
        """How long the request waited before the server began its LLM call, once that is known."""
        if self.sent_s is None or self.end_s is None or self.call_s is None:
            return None
        return max(0.0, self.end_s - self.sent_s - self.call_s)

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "tokens": self.tokens,
            "sent_s": _seconds(self.sent_s),
            "first_s": _seconds(self.first_s),
            "end_s": _seconds(self.end_s),
            "call_s": _seconds(self.call_s),
            "queued_s": _seconds(self.queued_s),
        }


@dataclass(slots=True)
class Lane:
    """One side of the race: its server and path, and its users."""

    name: str
    users: int
    entrants: list[Entrant] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.entrants = [Entrant() for _ in range(self.users)]

    @property
    def finished_s(self) -> float | None:
        """When its last user was served (or failed); None until every user has."""
        if not self.entrants or any(e.state not in {"done", "error"} for e in self.entrants):
            return None
        return max(e.end_s or 0.0 for e in self.entrants)

    def count(self, *states: UserState) -> int:
        return sum(1 for e in self.entrants if e.state in states)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "server": LANE_TITLES[self.name],
            "path": LANE_PATHS[self.name],
            "waiting": self.count("ready", "waiting"),
            "streaming": self.count("streaming"),
            "done": self.count("done", "error"),
            "errors": self.count("error"),
            "finished_s": _seconds(self.finished_s),
            "users": [e.as_dict() for e in self.entrants],
        }


@dataclass(slots=True)
class Race:
    """The state of one race, sent whole to the dashboard at each tick."""

    users: int
    state: RaceState = "starting"
    phase: str = "starting"  # what is happening while it starts: which server, and why it takes time
    error: str = ""
    requested: float = field(default_factory=time.monotonic)
    running_since: float | None = None
    finished: float | None = None  # the last user of either lane served (or the failure): the clock stops
    warm_up_call_s: float | None = None  # the warm-up's LLM calls (median), until the race's own are known
    lanes: dict[str, Lane] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lanes = {name: Lane(name, self.users) for name in LANE_SERVERS}

    @property
    def startup_s(self) -> float:
        """From the start request to the users' release: servers started (or found warm), then warmed up."""
        end = self.running_since or self.finished or time.monotonic()
        return end - self.requested

    @property
    def call_s(self) -> float | None:
        """One LLM call, the time axis's unit: the median of this race's calls as the servers timed them."""
        calls = [e.call_s for lane in self.lanes.values() for e in lane.entrants if e.call_s is not None]
        return statistics.median(calls) if calls else self.warm_up_call_s

    def clock(self) -> float:
        """Seconds since the users were released (0 before)."""
        return 0.0 if self.running_since is None else time.monotonic() - self.running_since

    @property
    def elapsed_s(self) -> float:
        """The race's time: running, the time so far; finished, the time its last user was served, for good."""
        if self.running_since is None:
            return 0.0
        if self.finished is not None:
            return self.finished - self.running_since
        return self.clock()

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "phase": self.phase,
            "error": self.error,
            "users": self.users,
            "tokens_per_answer": TOKENS,
            "workers": WORKERS,
            "elapsed_s": round(self.elapsed_s, 2),
            "startup_s": round(self.startup_s, 2),
            "call_s": _seconds(self.call_s),
            "lanes": {name: lane.as_dict() for name, lane in self.lanes.items()},
        }


_current: Race | None = None
_task: asyncio.Task[None] | None = None
Runner = Callable[[Race], Coroutine[Any, Any, None]]


def current() -> Race | None:
    """The running or last race of this process, for a dashboard that opens now."""
    return _current


def is_running() -> bool:
    """Whether a race task of this process has not finished yet."""
    return _task is not None and not _task.done()


def start(users: int, *, runner: Runner | None = None) -> Race | None:
    """Starts a race on the running loop, or returns None when one is running already."""
    global _current, _task
    # No await between the check and the creation: on one loop, two sockets cannot both get past it.
    if is_running():
        return None
    race = Race(users=users)
    _current = race
    _task = asyncio.get_running_loop().create_task((runner or run)(race))
    return race


# Renewed every third of this while a race runs: a process that dies holding it frees it within this long.
LOCK_TTL_S = 30.0
_lock = coordination.Lock("race", ttl_s=LOCK_TTL_S)


async def astart(users: int, *, runner: Runner | None = None) -> Race | None:
    """Starts a race unless one runs here or in another process sharing REDIS_URL; None when one does."""
    if is_running() or not await _lock.aacquire():
        return None
    race = start(users, runner=_holding_lock(runner or run))
    if race is None:  # pragma: no cover (is_running() was False a moment ago on this loop, with no await since)
        await _lock.arelease()
    return race


def _holding_lock(runner: Runner) -> Runner:
    async def run_holding_lock(race: Race) -> None:
        renewing = asyncio.create_task(_renew_lock())
        try:
            await runner(race)
        finally:
            renewing.cancel()
            # Redis gone: the lock then expires by itself.
            with contextlib.suppress(Exception):
                await _lock.arelease()

    return run_holding_lock


async def _renew_lock() -> None:
    while True:
        await asyncio.sleep(LOCK_TTL_S / 3)
        # A missed renewal (Redis briefly gone) is retried at the next one, well before the lock expires.
        with contextlib.suppress(Exception):
            await _lock.arenew()


def parse_users(value: Any) -> int | None:
    """The number of users of a start request, or None when it is not a whole number from 1 to MAX_USERS."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_USERS:
        return None
    return value


async def publish(race: Race) -> None:
    await agroup_send(GROUP, {"type": MESSAGE_TYPE, "race": race.as_dict()})


async def _tick(race: Race) -> None:
    while True:
        await publish(race)
        await asyncio.sleep(TICK_S)


async def run_user(
    session: aiohttp.ClientSession, url: str, entrant: Entrant, prompt: str, clock: Callable[[], float]
) -> None:
    """One user: posts a prompt to a stream endpoint and follows its answer token by token on ``entrant``."""
    entrant.state, entrant.sent_s = "waiting", clock()
    try:
        async with session.post(url, json={"prompt": prompt, "max_tokens": TOKENS}) as response:
            if response.status == 200:
                async for event in aiter_events(response.content):
                    if event.event == "token":
                        if entrant.first_s is None:
                            entrant.first_s = clock()
                        entrant.state = "streaming"
                        entrant.tokens += 1
                    elif event.event in {"done", "error"}:
                        reply = event.json()
                        duration_ms = reply.get("duration_ms") if isinstance(reply, dict) else None
                        if isinstance(duration_ms, (int, float)):
                            entrant.call_s = duration_ms / 1000
                        entrant.state = "done" if event.event == "done" else "error"
                        return
            entrant.state = "error"
    except (TimeoutError, ValueError, aiohttp.ClientError, OSError):
        entrant.state = "error"
    finally:
        entrant.end_s = clock()


async def _warm_up(session: aiohttp.ClientSession, urls: dict[str, str], race: Race) -> float:
    """One call per gunicorn worker and one on daphne; returns their LLM calls' median, as the servers timed them."""
    race.phase = (
        f"warming up: one call on each of gunicorn's {WORKERS} workers and one on daphne, so that no user of the "
        "race pays a server's first-request costs"
    )
    calls = [("async", Entrant())] + [("sync", Entrant()) for _ in range(WORKERS)]
    started = time.monotonic()

    def clock() -> float:
        return time.monotonic() - started

    await asyncio.gather(
        *(
            run_user(session, urls[lane] + LANE_PATHS[lane], entrant, f"Warm-up on the {lane} path", clock)
            for lane, entrant in calls
        )
    )
    failed = sorted({lane for lane, entrant in calls if entrant.state != "done"})
    if failed:
        names = " and ".join(LANE_SERVERS[lane] for lane in failed)
        raise RuntimeError(f"the warm-up call failed on {names}: is the LLM at LLM_BASE_URL up?")
    return statistics.median((e.call_s or (e.end_s or 0.0) - (e.sent_s or 0.0)) for _, e in calls)


async def run(race: Race) -> None:
    """The race task: servers, warm-up, every user on both lanes at once; the state is published throughout."""
    ticker = asyncio.create_task(_tick(race))
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)

    def report(phase: str) -> None:
        race.phase = phase

    try:
        async with (
            servers.use(report) as urls,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session,
        ):
            race.warm_up_call_s = await _warm_up(session, urls, race)
            race.phase = ""
            race.state, race.running_since = "running", time.monotonic()
            await asyncio.gather(
                *(
                    run_user(
                        session,
                        urls[name] + LANE_PATHS[name],
                        entrant,
                        f"Race user {i + 1} on the {name} path",
                        race.clock,
                    )
                    for name, lane in race.lanes.items()
                    for i, entrant in enumerate(lane.entrants)
                )
            )
        finished = [lane.finished_s for lane in race.lanes.values()]
        race.finished = (race.running_since or 0.0) + max(f or 0.0 for f in finished)
        race.state = "done"
    except Exception as exc:  # noqa: BLE001 (the dashboard shows why the race stopped)
        race.state, race.error = "error", f"{type(exc).__name__}: {exc}"[:500]
        if race.finished is None:
            race.finished = time.monotonic()
    finally:
        ticker.cancel()
        await publish(race)
