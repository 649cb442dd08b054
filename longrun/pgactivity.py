"""A database's connections as PostgreSQL sees them, sampled while a load runs (``pg_stat_activity``).

A connection pool's own counters live inside each server process; ``pg_stat_activity`` is the server's view of
every connection to one database, from every process, by state:

* ``active``: running a query now;
* ``idle``: open between transactions (waiting in a pool, or held by a request between two queries);
* ``idle in transaction``: a transaction left open between queries, holding its locks. A request that kept one
  open across a 30-second LLM wait would show here.

``ActivitySampler`` polls from its own thread, on a connection to another database (so it never counts
itself), and keeps the peak of each state and of the total. Needs psycopg (3).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

_QUERY = "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity WHERE datname = %s GROUP BY 1"


def _connect(dsn: str) -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover (installed wherever PostgreSQL is measured)
        raise ImportError(
            "longrun.pgactivity reads pg_stat_activity with psycopg: pip install 'psycopg[binary]'."
        ) from exc
    return psycopg.connect(dsn, autocommit=True)


def connection_states(dsn: str, database: str) -> dict[str, int]:
    """The connections to ``database`` now, by state, read through ``dsn`` (a connection to another database)."""
    with _connect(dsn) as connection:
        return {str(state): int(count) for state, count in connection.execute(_QUERY, [database]).fetchall()}


@dataclass
class Activity:
    """What the sampler saw: the most connections at once in total and per state, and how often it looked."""

    samples: int = 0
    peak_total: int = 0
    peak_by_state: dict[str, int] = field(default_factory=dict)

    def add(self, states: dict[str, int]) -> None:
        self.samples += 1
        self.peak_total = max(self.peak_total, sum(states.values()))
        for state, count in states.items():
            self.peak_by_state[state] = max(self.peak_by_state.get(state, 0), count)

    def as_dict(self) -> dict[str, Any]:
        return {"samples": self.samples, "peak_total": self.peak_total, "peak_by_state": dict(self.peak_by_state)}


class ActivitySampler:
    """Polls ``pg_stat_activity`` for ``database`` every ``interval_s`` from a thread while the block runs."""

    def __init__(self, dsn: str, database: str, *, interval_s: float = 0.02) -> None:
        self.dsn = dsn
        self.database = database
        self.interval_s = interval_s
        self.activity = Activity()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="longrun-pgactivity", daemon=True)
        self._error: BaseException | None = None

    def __enter__(self) -> Activity:
        self._thread.start()
        return self.activity

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"Sampling pg_stat_activity failed: {self._error}") from self._error

    def _run(self) -> None:
        try:
            with _connect(self.dsn) as connection:
                while not self._stop.is_set():
                    rows = connection.execute(_QUERY, [self.database]).fetchall()
                    self.activity.add({str(state): int(count) for state, count in rows})
                    time.sleep(self.interval_s)
        except Exception as exc:  # noqa: BLE001 (reported by __exit__, in the caller's thread)
            self._error = exc
