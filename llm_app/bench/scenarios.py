"""What a comparison runs: which servers, which paths each can serve, how many users, how slow the LLM is."""

from __future__ import annotations

from dataclasses import dataclass, field

from llm_app.servers import SERVERS as DEMO_SERVERS
from longrun.loadgen.clients import Kind
from longrun.servers import SERVERS as LONGRUN_SERVERS
from longrun.servers import Server

# The paths a user can pick, the request kind the load generator sends, and the URL.
PATHS: dict[str, tuple[Kind, str]] = {
    "sync": ("sse", "/api/sync/stream"),
    "async": ("sse", "/api/async/stream"),
    "websocket": ("websocket", "/ws/chat/"),
    # The async view's non-streaming twin: one JSON reply per request (the shape of the 1000- and 5000-user runs).
    "complete": ("json", "/api/async/complete"),
}
# The paths the floor serves (a bare ASGI app answering the async endpoints only).
FLOOR_PATHS = ("async", "complete")
DEFAULT_SERVERS = ("runserver", "gunicorn", "gthread", "daphne", "uvicorn", "granian", "floor")
QUICK_SERVERS = ("gunicorn", "daphne", "floor")
FLOOR_APP = "llm_app.bench.floor:app"
# The benchmark's floor: a bare ASGI app (no Django) making the same upstream call, under uvicorn.
FLOOR = Server(
    "floor",
    "asgi",
    "a bare ASGI app with no Django under uvicorn: the benchmark's floor.",
    LONGRUN_SERVERS["uvicorn"].argv,
)
SERVERS: dict[str, Server] = {**DEMO_SERVERS, "floor": FLOOR}
# The worker pools: --workers sizes them; every other server runs one process per measured "processes" value.
POOLS = ("gunicorn", "gthread")


@dataclass(frozen=True, slots=True)
class LLMTiming:
    """The simulator's schedule: every reply takes ttft + tokens x token delay."""

    ttft_ms: int = 200
    token_ms: int = 40
    tokens: int = 50

    @property
    def seconds(self) -> float:
        return (self.ttft_ms + self.tokens * self.token_ms) / 1000


@dataclass(frozen=True, slots=True)
class Target:
    server: str
    path: str
    processes: int = 1  # server processes on the one port; a worker pool's size is Scenario.workers instead

    @property
    def kind(self) -> Kind:
        return PATHS[self.path][0]

    @property
    def url_path(self) -> str:
        return PATHS[self.path][1]

    @property
    def label(self) -> str:
        server = self.server if self.processes == 1 else f"{self.server}x{self.processes}"
        return f"{server}/{self.path}"

    @property
    def streams(self) -> bool:
        """Whether the user gets each token as it comes: not for a JSON reply, nor for the async stream under a
        WSGI server, which Django reads whole before sending it."""
        if self.kind == "json":
            return False
        return not (self.path == "async" and SERVERS[self.server].interface == "wsgi")


@dataclass(frozen=True, slots=True)
class Scenario:
    concurrency: tuple[int, ...] = (32,)
    timing: LLMTiming = field(default_factory=LLMTiming)
    requests_per_user: int = 1
    duration_s: float | None = None
    servers: tuple[str, ...] = DEFAULT_SERVERS
    paths: tuple[str, ...] = ("sync", "async", "websocket")
    workers: int = 5
    threads: int = 32
    # None: a fresh SQLite file per run. A URL (PostgreSQL): migrated, then shared by the servers.
    database_url: str | None = None
    # Processes of each non-pool server, one target per count: (1, 2) measures how throughput grows.
    processes: tuple[int, ...] = (1,)
    # True: no discarded burst after a server starts; the first measured burst is the first the server serves.
    first_burst: bool = False

    def targets(self) -> list[Target]:
        """Every (server, path, processes) the server can serve: WebSockets need ASGI; the floor has two paths."""
        targets = []
        for server in self.servers:
            counts = (1,) if server in POOLS else self.processes
            for processes in counts:
                for path in self.paths:
                    if server == FLOOR.name and path not in FLOOR_PATHS:
                        continue
                    if path == "websocket" and SERVERS[server].interface != "asgi":
                        continue
                    targets.append(Target(server, path, processes))
        return targets


def quick() -> Scenario:
    """A smoke run under a minute: 32 users, 0.5 s calls, the worker pool against daphne and the floor."""
    return Scenario(
        concurrency=(32,),
        timing=LLMTiming(ttft_ms=100, token_ms=20, tokens=20),
        servers=QUICK_SERVERS,
        paths=("sync", "async", "websocket"),
    )
