"""Hundreds of concurrent streams on PostgreSQL: how many connections they hold, and whether any waits for one.

Each stream writes its prompt and an empty answer before the LLM call and the answer after it, through Django's
psycopg pool (``DATABASE_POOL_SIZE`` per process). If a request kept its connection across the LLM wait, at most
``processes x pool size`` LLM calls could be in flight at once: the rest would wait for a connection (then fail
after ``DATABASE_POOL_TIMEOUT``). So the run measures, at the same time:

* PostgreSQL's side: every connection to the run's database, by state, from ``pg_stat_activity``
  (``longrun.pgactivity``): before the load (after a warm-up), its peak during the load, and after it;
* the LLM's side: the simulator's in-flight gauge, polled; 500 streams on a 20-connection budget must reach
  500 LLM calls at once;
* the users' side: completed streams, errors, time to the first token and to the end.

The run gets a database of its own (created, migrated, dropped) and ``processes`` servers of one process each on
it, the users split evenly between them. ``benchmarks/postgres_load.py`` runs it and prints the figures.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llm_app.bench.orchestrate import server_env
from llm_app.bench.scenarios import PATHS, LLMTiming
from llm_app.server_env import migrate
from llm_app.servers import running_server
from longrun.loadgen.runner import run_load
from longrun.pgactivity import ActivitySampler, connection_states
from longrun.simulator import SimulatorConfig, SimulatorProcess

ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
# How long the pools get after the load to hand their connections back before the "after" count.
SETTLE_S = 1.0


@dataclass(frozen=True, slots=True)
class PostgresLoad:
    """One run's figures; connection counts are PostgreSQL's, over every server process."""

    server: str
    path: str
    streams: int
    processes: int
    pool_size: int
    llm_seconds: float
    completed: int
    errors: dict[str, int]
    ttft_p50_s: float | None
    ttft_p99_s: float | None
    total_p99_s: float | None
    connections_before: dict[str, int]
    connections_peak: int
    connections_peak_by_state: dict[str, int]
    connections_after: dict[str, int]
    activity_samples: int
    llm_in_flight_peak: int

    @property
    def pool_budget(self) -> int:
        """The most connections the pools may open: the pool size of every process together."""
        return self.processes * self.pool_size

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pool_budget": self.pool_budget}


@contextmanager
def scratch_database(admin_url: str) -> Iterator[tuple[str, str]]:
    """A database of the run's own, created through ``admin_url`` and dropped after: (its URL, its name)."""
    import psycopg

    name = f"longrun_pgload_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}", name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _InFlightSampler:
    """Polls the simulator's ``active`` gauge (LLM calls in flight) from a thread; keeps the peak."""

    def __init__(self, simulator: SimulatorProcess, interval_s: float = 0.05) -> None:
        self.simulator = simulator
        self.interval_s = interval_s
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="longrun-llm-in-flight", daemon=True)

    def __enter__(self) -> _InFlightSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.simulator.stats()["active"])
            time.sleep(self.interval_s)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, round(q / 100 * len(ordered)) - 1)]


def _payload(user: int, request: int) -> dict[str, Any]:
    return {"prompt": f"PostgreSQL load, user {user}: explain connection pools."}


async def _load_all(kind: Any, urls: list[str], streams: int, origin_of: dict[str, str]) -> list[Any]:
    share, extra = divmod(streams, len(urls))
    runs = await asyncio.gather(
        *(
            run_load(
                kind=kind,
                url=url,
                concurrency=share + (1 if index < extra else 0),
                payload_factory=_payload,
                origin=origin_of[url],
            )
            for index, url in enumerate(urls)
        )
    )
    return [result for run in runs for result in run.results]


def measure(
    *,
    streams: int,
    processes: int = 2,
    pool_size: int = 10,
    path: str = "async",
    server: str = "uvicorn",
    timing: LLMTiming | None = None,
    admin_url: str = ADMIN_URL,
    pool_timeout_s: float = 10.0,
) -> PostgresLoad:
    """Runs ``streams`` concurrent streams on ``path`` against ``processes`` servers on a fresh database."""
    timing = timing or LLMTiming()
    kind, url_path = PATHS[path]
    with ExitStack() as stack:
        database_url, database = stack.enter_context(scratch_database(admin_url))
        simulator = stack.enter_context(
            SimulatorProcess(SimulatorConfig(ttft_ms=timing.ttft_ms, token_ms=timing.token_ms, tokens=timing.tokens))
        )
        workspace = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pgload-")))
        (workspace / "static").mkdir()
        env = {
            **server_env(workspace, simulator.base_url, database_url),
            "DATABASE_POOL_SIZE": str(pool_size),
            "DATABASE_POOL_TIMEOUT": str(pool_timeout_s),
        }
        migrate(env)
        bases = [stack.enter_context(running_server(server, env=env))[0] for _ in range(processes)]
        urls = [base.replace("http", "ws", 1) + url_path if kind == "websocket" else base + url_path for base in bases]
        origin_of = dict(zip(urls, bases, strict=True))
        # A warm-up per process: its pool opens its first connection, its imports are done.
        asyncio.run(_load_all(kind, urls, processes * 2, origin_of))
        time.sleep(SETTLE_S)
        before = connection_states(admin_url, database)
        with ActivitySampler(admin_url, database) as activity, _InFlightSampler(simulator) as in_flight:
            results = asyncio.run(_load_all(kind, urls, streams, origin_of))
        time.sleep(SETTLE_S)
        after = connection_states(admin_url, database)
    done = [r for r in results if r.ok]
    errors: dict[str, int] = {}
    for r in results:
        if not r.ok:
            errors[r.error or "unknown"] = errors.get(r.error or "unknown", 0) + 1
    ttfts = [r.ttft_s for r in done if r.ttft_s is not None]
    return PostgresLoad(
        server=server,
        path=path,
        streams=streams,
        processes=processes,
        pool_size=pool_size,
        llm_seconds=timing.seconds,
        completed=len(done),
        errors=errors,
        ttft_p50_s=statistics.median(ttfts) if ttfts else None,
        ttft_p99_s=_percentile(ttfts, 99),
        total_p99_s=_percentile([r.total_s for r in done], 99),
        connections_before=before,
        connections_peak=activity.peak_total,
        connections_peak_by_state=dict(activity.peak_by_state),
        connections_after=after,
        activity_samples=activity.samples,
        llm_in_flight_peak=in_flight.peak,
    )
