"""Disconnect storms: 500 clients hang up at random points of their streams (SSE and WebSocket) on a real daphne.

Afterwards nothing is left behind: the simulator has nothing active (every upstream request was closed), every
row is ``cancelled`` or ``complete`` with the text its client was sent, and the server's threads, open
descriptors, database connections and asyncio tasks are back where they were before the storm.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from llm_app.soak.churn import Tally, storm
from llm_app.soak.figures import read_probe
from llm_app.soak.run import SoakServer, soak_server
from longrun.loadgen.runner import raise_nofile_limit

pytestmark = pytest.mark.e2e

CLIENTS = 500
TOKENS = 40


def resting(running: SoakServer) -> tuple[int, int, int, int | None]:
    """Threads, descriptors, database connections and asyncio tasks, once the probe has seen a quiet window."""
    time.sleep(2.5)  # one probe window with nothing in flight
    figures = running.process_figures()
    return figures.threads, figures.fds, figures.db_connections, read_probe(running.probe).tasks


def back_to(running: SoakServer, before: tuple[int, int, int, int | None], timeout: float = 20.0) -> tuple:
    """The resting figures once they are no higher than ``before`` (sockets close a little after their clients)."""
    deadline = time.monotonic() + timeout
    while True:
        now = resting(running)
        if all(a is None or b is None or a <= b for a, b in zip(now, before, strict=True)):
            return now
        if time.monotonic() > deadline:
            return now
        time.sleep(0.5)


def test_500_clients_hanging_up_mid_stream_leave_nothing_open_and_every_row_closed_with_its_text() -> None:
    raise_nofile_limit(CLIENTS * 4 + 1024)
    with soak_server(ttft_ms=200, token_ms=50, tokens=TOKENS, probe_interval_s=1.0) as running:
        # A warm-up storm first: the pools and threads the server keeps are then at their resting size.
        asyncio.run(storm(running.target, clients=20, tokens=TOKENS, seed=1, tally=Tally()))
        assert running.settle()
        before = resting(running)
        upstream_before = running.upstream()

        tally = Tally()
        asyncio.run(storm(running.target, clients=CLIENTS, tokens=TOKENS, seed=2, tally=tally))

        assert dict(tally.outcomes) == {"hung_up": CLIENTS}
        assert running.settle(), "rows were left streaming or upstream requests active"
        upstream = running.upstream()
        assert upstream["active"] == 0
        finished = sum(upstream[k] - upstream_before[k] for k in ("completed", "cancelled", "errors"))
        assert finished == CLIENTS
        # A server running behind (500 streams opened within 2 s on two shared cores) may finish a stream before
        # it reads the hang-up: that call is complete, with its whole text, which is as good.
        statuses = running.statuses()
        assert set(statuses) <= {"cancelled", "complete"}
        assert sum(statuses.values()) == CLIENTS + 20
        assert running.calls_without_text() == 0

        after = back_to(running, before)
        threads, fds, db_connections, tasks = after
        assert threads <= before[0], f"threads {before[0]} -> {threads}"
        assert fds <= before[1], f"open descriptors {before[1]} -> {fds}"
        assert db_connections <= before[2], f"database connections {before[2]} -> {db_connections}"
        assert tasks is not None and tasks <= (before[3] or 1), f"asyncio tasks {before[3]} -> {tasks}"
