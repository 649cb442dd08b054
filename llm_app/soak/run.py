"""A soak: the simulator and a probed server started here, churning clients for N minutes, sampled throughout.

``SoakServer`` (a context manager) starts the simulator and the server under test on a database of its own,
with the event-loop probe; ``soak()`` runs the clients against it, samples every few seconds, lets everything
settle, checks the rows, and returns the samples and the verdict. The disconnect-storm tests use
``SoakServer`` too.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from llm_app.server_env import ROOT, migrate, server_env, sqlite_url
from llm_app.soak.churn import Tally, Target, churn
from llm_app.soak.figures import DatabaseTarget, ProcessFigures, Sample, read_probe, read_process, read_task_kinds
from llm_app.soak.probe import INTERVAL_ENV, PROBE_ENV
from longrun.servers import running_server
from longrun.simulator import SimulatorConfig, SimulatorProcess, fetch_stats


@dataclass
class SoakServer:
    """A running server under test, its simulator, and where to read each."""

    url: str
    pid: int
    simulator_url: str
    database_url: str
    probe: Path

    @property
    def target(self) -> Target:
        return Target(self.url)

    def process_figures(self) -> ProcessFigures:
        return read_process(self.pid, DatabaseTarget.from_url(self.database_url))

    def upstream(self) -> dict[str, int]:
        """The simulator's counters."""
        return fetch_stats(self.simulator_url)

    def query(self, sql: str) -> list[tuple[object, ...]]:
        """Rows of ``sql`` from the server's database, over a connection of this process's own."""
        if self.database_url.startswith("sqlite:"):
            with sqlite3.connect(self.database_url.removeprefix("sqlite:///"), timeout=30) as db:
                return db.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(self.database_url.replace("postgres://", "postgresql://", 1)) as pg:
            return pg.execute(sql.encode()).fetchall()

    def statuses(self) -> Counter[str]:
        """How many LLMCall rows end in each status."""
        rows = self.query("SELECT status, count(*) FROM llm_app_llmcall GROUP BY status")
        return Counter({str(status): int(str(count)) for status, count in rows})

    def calls_without_text(self) -> int:
        """Calls that ended ``complete`` or ``cancelled`` after their first token but saved no text (must be 0)."""
        [(count,)] = self.query(
            "SELECT count(*) FROM llm_app_llmcall AS c JOIN llm_app_message AS m ON m.id = c.message_id"
            " WHERE c.status IN ('complete', 'cancelled') AND c.tokens > 0 AND m.content = ''"
        )
        return int(str(count))

    def sample(self, *, started: float, tally: Tally) -> Sample:
        return Sample.of(
            elapsed_s=time.monotonic() - started,
            streams_open=tally.open,
            upstream_active=self.upstream()["active"],
            process=self.process_figures(),
            loop=read_probe(self.probe),
        )

    def settle(self, *, timeout: float = 60.0) -> bool:
        """Waits until the simulator has nothing active and no row is ``streaming``; whether that happened."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.upstream()["active"] == 0 and self.statuses().get("streaming", 0) == 0:
                return True
            time.sleep(0.5)
        return False


@contextmanager
def soak_server(
    *,
    server: str = "daphne",
    ttft_ms: float = 500,
    token_ms: float = 200,
    tokens: int = 50,
    database_url: str | None = None,
    probe_interval_s: float = 2.0,
    env: dict[str, str] | None = None,
) -> Iterator[SoakServer]:
    """Starts the simulator and ``server`` (probed) on a migrated database of its own; stops both on exit."""
    with tempfile.TemporaryDirectory(prefix="longrun-soak-") as scratch:
        database_url = database_url or sqlite_url(Path(scratch))
        probe = Path(scratch) / "probe.jsonl"
        config = SimulatorConfig(ttft_ms=ttft_ms, token_ms=token_ms, tokens=tokens)
        with SimulatorProcess(config) as simulator:
            full_env = server_env(
                database_url=database_url,
                llm_url=simulator.base_url,
                DJANGO_DEBUG="false",
                DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "soak-" + "x" * 40),
                # A non-streamed reply comes whole after TTFT + N x token delay: the per-read timeout must exceed it.
                LLM_TIMEOUT=str(round(2 * (ttft_ms + tokens * token_ms) / 1000 + 5)),
                **{PROBE_ENV: str(probe), INTERVAL_ENV: str(probe_interval_s)},
                **(env or {}),
            )
            migrate(full_env)
            with running_server(server, app="llm_app.soak.probe:application", env=full_env, cwd=ROOT) as (
                url,
                process,
            ):
                yield SoakServer(
                    url=url, pid=process.pid, simulator_url=simulator.base_url, database_url=database_url, probe=probe
                )


@dataclass
class SoakResult:
    samples: list[Sample]
    outcomes: Counter[str]
    statuses: Counter[str]
    settled: bool
    calls_without_text: int
    load_average: tuple[float, float, float]
    started_at: float
    idle_task_kinds: list[tuple[str, int]] = field(default_factory=list)


async def soak(
    running: SoakServer,
    *,
    minutes: float,
    streams: int,
    tokens: int,
    interval_s: float = 5.0,
    seed: int = 1,
    say: Callable[[str], None] = print,
) -> SoakResult:
    """Holds ``streams`` users with churn for ``minutes``, sampling every ``interval_s``; then settles and checks."""
    tally = Tally()
    samples: list[Sample] = []
    started = time.monotonic()
    started_at = time.time()
    until = started + minutes * 60

    async def sampler() -> None:
        while True:
            sample = await asyncio.to_thread(running.sample, started=started, tally=tally)
            samples.append(sample)
            say(
                f"{sample.elapsed_s:7.0f}s open {sample.streams_open:4d} upstream {sample.upstream_active:4d} "
                f"rss {sample.rss_mib:7.1f} MiB threads {sample.threads:3d} fds {sample.fds:5d} "
                f"db {sample.db_connections:2d} lag p99 {sample.lag_p99_ms} ms tasks {sample.tasks} "
                f"done {sum(tally.outcomes.values())} unexpected {tally.unexpected}"
            )
            await asyncio.sleep(interval_s)

    sampling = asyncio.create_task(sampler())
    try:
        await churn(running.target, streams=streams, until=until, tokens=tokens, seed=seed, tally=tally)
        settled = await asyncio.to_thread(running.settle)
        # The idle tail: what the server holds once the load is gone.
        await asyncio.sleep(interval_s * 3)
    finally:
        sampling.cancel()
    samples.append(await asyncio.to_thread(running.sample, started=started, tally=tally))
    return SoakResult(
        samples=samples,
        outcomes=tally.outcomes,
        statuses=await asyncio.to_thread(running.statuses),
        settled=settled,
        calls_without_text=await asyncio.to_thread(running.calls_without_text),
        load_average=os.getloadavg(),
        started_at=started_at,
        idle_task_kinds=await asyncio.to_thread(read_task_kinds, running.probe),
    )
