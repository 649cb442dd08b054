"""Runs a comparison: the simulator once, then each server in turn, every path and concurrency against it.

Each server starts on a free port with a fresh SQLite database of the run's own, is warmed up (one request
per worker, so a pool's first requests don't pay for imports), loaded, and stopped: on success, on failure
and on Ctrl-C alike. While a load runs, the server's process tree and the simulator are sampled for CPU, RSS
and threads; the load generator measures its own CPU. None of them may be the bottleneck unnoticed.
"""

from __future__ import annotations

import asyncio
import heapq
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from llm_app.bench.scenarios import FLOOR, FLOOR_APP, POOLS, SERVERS, Scenario, Target
from llm_app.server_env import migrate, sqlite_url
from llm_app.server_env import server_env as environment_of_server
from llm_app.servers import running_server
from longrun.loadgen.figures import summarize
from longrun.loadgen.procstats import ProcessTreeSampler, sample_tree
from longrun.loadgen.runner import run_load
from longrun.simulator import SimulatorConfig, SimulatorProcess

ROOT = Path(__file__).resolve().parents[2]
WARM_UP_USERS = 100
Progress = Callable[[str], None]


@dataclass(slots=True)
class RunResult:
    """One server, one path, one concurrency: what the users saw and what the processes spent."""

    server: str
    path: str
    concurrency: int
    figures: dict[str, Any]
    server_stats: dict[str, Any]
    simulator_stats: dict[str, Any]
    client_cpu: dict[str, float]
    idle_rss_mib: float
    rss_per_inflight_kib: float
    served_per_round: list[int]
    # The simulator's counters over the burst: peak_active is the most LLM calls the server had in flight at once.
    upstream: dict[str, int] = field(default_factory=dict)
    processes: int = 1
    # Other work on the shared machine skews efficiency (not CPU per request): the load when the run began.
    load_average: list[float] = field(default_factory=list)
    cpu_ms_per_request: float | None = None  # the server tree's CPU over the run / completed requests

    @property
    def label(self) -> str:
        server = self.server if self.processes == 1 else f"{self.server}x{self.processes}"
        return f"{server}/{self.path}"


@dataclass(slots=True)
class Comparison:
    scenario: dict[str, Any]
    environment: dict[str, Any]
    command: str
    runs: list[RunResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "environment": self.environment,
            "command": self.command,
            "runs": [asdict(run) for run in self.runs],
        }


def environment() -> dict[str, Any]:
    packages = ["Django", "channels", "daphne", "uvicorn", "granian", "gunicorn", "openai", "aiohttp"]
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        # Other work on the machine skews every figure: say how busy it was when the run began.
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "python": platform.python_version(),
        "versions": {name: version(name) for name in packages},
    }


@contextmanager
def _workspace() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="compare-servers-") as tmp:
        path = Path(tmp)
        (path / "static").mkdir()
        yield path


def server_env(workspace: Path, llm_url: str, database_url: str | None = None, *, users: int = 1000) -> dict[str, str]:
    # Production-like: DEBUG off (no query log growing under load), a database of the run's own, and an upstream
    # connection pool as large as the users (each in-flight call holds a connection to the LLM).
    return environment_of_server(
        database_url=database_url or sqlite_url(workspace, "bench.sqlite3"),
        llm_url=llm_url,
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="compare-servers-benchmark-key-not-for-production",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DJANGO_STATIC_ROOT=str(workspace / "static"),
        LLM_MAX_RETRIES="0",
        LLM_MAX_CONNECTIONS=str(max(users, 1000)),
    )


def _payload(user: int, request: int) -> dict[str, Any]:
    return {"prompt": f"Benchmark user {user}, request {request}: explain ASGI."}


def _load(target: Target, base: str, concurrency: int, scenario: Scenario) -> Any:
    url = base.replace("http", "ws", 1) + target.url_path if target.kind == "websocket" else base + target.url_path
    return asyncio.run(
        run_load(
            kind=target.kind,
            url=url,
            concurrency=concurrency,
            payload_factory=_payload,
            requests_per_user=scenario.requests_per_user,
            duration_s=scenario.duration_s,
            origin=base,
        )
    )


def served_per_round(results: list[Any]) -> list[int]:
    """How many users each round served: [32] when all were served together, [5, 5, 5, 5, 5, 5, 2] by a pool of five.

    A round is told by order, not by the clock: a user belongs to the round after the latest one among the users
    who had finished before its first token arrived (the first round: no one had). A user who had to wait for
    another to finish was queued behind it, however long either took, so the count holds on a loaded machine.
    Only for streamed replies: when the first token comes with the whole reply, nothing tells when its service
    began.
    """
    served = sorted((r.started + r.ttft_s, r.started + r.total_s) for r in results if r.ok and r.ttft_s is not None)
    rounds: list[int] = []
    finished: list[tuple[float, int]] = []  # (end, round) of the users served so far, soonest end first
    latest = 0  # the latest round among the users who had finished
    for first, end in served:
        while finished and finished[0][0] <= first:
            latest = max(latest, heapq.heappop(finished)[1])
        if latest == len(rounds):
            rounds.append(0)
        rounds[latest] += 1
        heapq.heappush(finished, (end, latest + 1))
    return rounds


def measure(
    target: Target, base: str, server_pid: int, simulator: SimulatorProcess, concurrency: int, scenario: Scenario
) -> RunResult:
    """One burst of ``concurrency`` users against a running server, with its processes' and the harness's cost."""
    idle = sample_tree(psutil.Process(server_pid))
    load_average = [round(v, 2) for v in os.getloadavg()]
    # The LLM's counters, its peak of calls in flight included, describe this burst alone: the calls of an earlier
    # burst are counted first.
    simulator.settled_stats()
    simulator.reset_stats()
    with ProcessTreeSampler(server_pid) as server_sampler, ProcessTreeSampler(simulator.pid) as simulator_sampler:
        run = _load(target, base, concurrency, scenario)
    upstream = simulator.settled_stats()
    server_stats = server_sampler.stop()
    figures = summarize(run, llm_seconds_per_request=scenario.timing.seconds)
    grown = max(0, server_stats.peak_rss_bytes - idle.rss_bytes)
    completed = figures.completed
    return RunResult(
        server=target.server,
        path=target.path,
        concurrency=concurrency,
        figures=figures.as_dict(),
        server_stats=server_stats.as_dict(),
        simulator_stats=simulator_sampler.stop().as_dict(),
        client_cpu=run.client_cpu.as_dict(),
        idle_rss_mib=round(idle.rss_bytes / 2**20, 1),
        rss_per_inflight_kib=round(grown / concurrency / 1024, 1),
        served_per_round=served_per_round(run.results) if target.streams else [],
        upstream=upstream,
        processes=target.processes,
        load_average=load_average,
        cpu_ms_per_request=round(1000 * server_stats.cpu_s / completed, 3) if completed else None,
    )


def compare(scenario: Scenario, *, command: str, progress: Progress = lambda _: None) -> Comparison:
    """Called by ``compare_servers``: runs every target at every concurrency and returns all the figures."""
    comparison = Comparison(scenario=_scenario_dict(scenario), environment=environment(), command=command)
    timing = scenario.timing
    targets = scenario.targets()
    with (
        _workspace() as workspace,
        SimulatorProcess(
            SimulatorConfig(ttft_ms=timing.ttft_ms, token_ms=timing.token_ms, tokens=timing.tokens, stall_cap_s=5)
        ) as simulator,
    ):
        env = server_env(workspace, simulator.base_url, scenario.database_url, users=max(scenario.concurrency))
        migrate(env)
        for server, processes in dict.fromkeys((t.server, t.processes) for t in targets):
            mine = [t for t in targets if (t.server, t.processes) == (server, processes)]
            progress(f"starting {server}" + (f" with {processes} processes" if processes > 1 else ""))
            with running_server(
                SERVERS[server],
                env=env,
                cwd=ROOT,
                workers=scenario.workers if server in POOLS else processes,
                threads=scenario.threads,
                app=FLOOR_APP if server == FLOOR.name else None,
            ) as (base, process):
                warm_users = max(scenario.workers, min(min(scenario.concurrency), WARM_UP_USERS))
                for target in mine:
                    if not scenario.first_burst:
                        # A discarded burst first, so that every worker has paid its first-request costs (SDK
                        # client, database connection, thread pools) before anything is measured.
                        _load(target, base, warm_users, Scenario(timing=timing))
                    for concurrency in scenario.concurrency:
                        progress(f"{target.label} x {concurrency} users")
                        result = measure(target, base, process.pid, simulator, concurrency, scenario)
                        comparison.runs.append(result)
                        progress(_one_line(result))
    return comparison


def _one_line(run: RunResult) -> str:
    f = run.figures
    return (
        f"{run.label} x {run.concurrency}: {f['completed']}/{f['requests']} ok, efficiency {f['efficiency']:.2f}, "
        f"last user waited {f['last_user_wait_s']:.1f}s"
    )


def _scenario_dict(scenario: Scenario) -> dict[str, Any]:
    data = asdict(scenario)
    data["llm_seconds_per_request"] = scenario.timing.seconds
    data["targets"] = [t.label for t in scenario.targets()]
    return data
