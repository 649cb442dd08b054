"""A server process seen from outside: memory, threads, open descriptors, database connections, and its loop.

``read_process`` uses psutil on the server's pid (and its children: a gunicorn master's workers); database
connections are the process's open handles on the database: for SQLite the database file itself, for
PostgreSQL its TCP connections to the database server's port. The event loop's figures are the last line the
server's probe wrote (``llm_app.soak.probe``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil  # type: ignore[import-untyped]


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    """How to recognise the server's database connections: a SQLite file, or a PostgreSQL port."""

    sqlite_path: str | None = None
    port: int | None = None

    @classmethod
    def from_url(cls, url: str) -> DatabaseTarget:
        if url.startswith("sqlite:"):
            return cls(sqlite_path=str(Path(url.removeprefix("sqlite:///")).resolve()))
        return cls(port=urlsplit(url).port or 5432)

    def count(self, process: psutil.Process) -> int:
        if self.sqlite_path is not None:
            return sum(1 for f in process.open_files() if f.path == self.sqlite_path)
        return sum(1 for c in process.net_connections("tcp") if c.raddr and c.raddr.port == self.port)


@dataclass(frozen=True, slots=True)
class ProcessFigures:
    rss_mib: float
    threads: int
    fds: int
    db_connections: int


def read_process(pid: int, database: DatabaseTarget) -> ProcessFigures:
    """The figures of ``pid`` and its children now; a process that exits meanwhile is skipped."""
    root = psutil.Process(pid)
    rss = threads = fds = db = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            with process.oneshot():
                rss += process.memory_info().rss
                threads += process.num_threads()
                fds += process.num_fds()
            db += database.count(process)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return ProcessFigures(rss_mib=round(rss / 2**20, 1), threads=threads, fds=fds, db_connections=db)


@dataclass(frozen=True, slots=True)
class LoopFigures:
    lag_p50_ms: float | None = None
    lag_p99_ms: float | None = None
    lag_max_ms: float | None = None
    tasks: int | None = None


def read_probe(path: Path) -> LoopFigures:
    """The last window the server's probe wrote, or empty figures before its first line."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return LoopFigures()
    if not lines:
        return LoopFigures()
    last: dict[str, Any] = json.loads(lines[-1])
    return LoopFigures(**{f.name: last.get(f.name) for f in fields(LoopFigures)})


def read_task_kinds(path: Path) -> list[tuple[str, int]]:
    """What the server's tasks were running in the probe's last window, most common first."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [(str(kind), int(count)) for kind, count in json.loads(lines[-1]).get("task_kinds", [])] if lines else []


@dataclass(frozen=True, slots=True)
class Sample:
    """One row of the soak's CSV."""

    elapsed_s: float
    streams_open: int
    upstream_active: int
    rss_mib: float
    threads: int
    fds: int
    db_connections: int
    lag_p50_ms: float | None
    lag_p99_ms: float | None
    lag_max_ms: float | None
    tasks: int | None

    @classmethod
    def of(
        cls, *, elapsed_s: float, streams_open: int, upstream_active: int, process: ProcessFigures, loop: LoopFigures
    ) -> Sample:
        return cls(
            elapsed_s=round(elapsed_s, 1),
            streams_open=streams_open,
            upstream_active=upstream_active,
            **asdict(process),
            **asdict(loop),
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
