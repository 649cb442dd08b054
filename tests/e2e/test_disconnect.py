"""A client that leaves mid-reply, through real servers and a real socket: what the README says each path does.

The sync stream stops one or two tokens after the client leaves, under daphne (the bridge closes the generator
when Django's handler cancels the response) and under gunicorn (a write to the closed socket fails and the
worker closes the response); the partial answer is saved as ``cancelled``. A sync ``complete`` cannot be
stopped: the thread (or the worker) runs the whole LLM call and saves it as ``complete``; only the reply is
lost. The rows are read from the servers' own SQLite file, the upstream's view from the simulator's counters.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.e2e


def leave_after(base: str, path: str, marker: bytes | None, *, until: Callable[[], bool] = lambda: True) -> None:
    """POSTs a prompt over a raw socket; closes it once ``marker`` has arrived (None: nothing) and ``until()``."""
    url = urlsplit(base)
    body = json.dumps({"prompt": "Leave me halfway"}).encode()
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(request)
        received = b""
        while marker is not None and marker not in received:
            chunk = sock.recv(4096)
            assert chunk, f"the server closed before {marker!r}: {received!r}"
            received += chunk
        deadline = time.monotonic() + 30
        while not until():
            assert time.monotonic() < deadline, "the call never started"
            time.sleep(0.05)


def last_call(database: str, after_id: int, timeout: float = 30.0) -> tuple[str, int, str]:
    """The (status, tokens, answer) of the first call after ``after_id`` once it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sqlite3.connect(database) as db:
            row = db.execute(
                "select c.status, c.tokens, m.content from llm_app_llmcall c join llm_app_message m "
                "on m.id = c.message_id where c.id > ? order by c.id limit 1",
                (after_id,),
            ).fetchone()
        if row is not None and row[0] != "streaming":
            return row
        time.sleep(0.1)
    raise AssertionError(f"no call after #{after_id} ended within {timeout:g} s")


def newest_call_id(database: str) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute("select coalesce(max(id), 0) from llm_app_llmcall").fetchone()[0])


@pytest.fixture
def database(e2e_env) -> str:
    return e2e_env["DATABASE_URL"].removeprefix("sqlite:///")


@pytest.mark.parametrize("name", ["daphne", "gunicorn"])
def test_a_client_that_leaves_a_sync_stream_stops_the_call_and_its_partial_answer_is_kept(
    server, database, slow_simulator, name
):
    with server(name, workers=1) if name == "gunicorn" else server(name) as base:
        before = newest_call_id(database)
        cancelled = slow_simulator.stats()["cancelled"]
        leave_after(base, "/api/sync/stream", b"event: token")
        status, tokens, answer = last_call(database, before)
    assert status == "cancelled"
    assert 0 < tokens < slow_simulator.tokens and answer
    assert slow_simulator.stats()["cancelled"] == cancelled + 1, "the upstream request was closed early"


def test_a_client_that_leaves_a_sync_complete_under_asgi_does_not_stop_the_call(server, database, slow_simulator):
    with server("daphne") as base:
        before = newest_call_id(database)
        completed = slow_simulator.stats()["completed"]
        leave_after(base, "/api/sync/complete", None, until=lambda: slow_simulator.stats()["active"] > 0)
        status, tokens, _ = last_call(database, before)
    assert (status, tokens) == ("complete", slow_simulator.tokens)
    assert slow_simulator.stats()["completed"] == completed + 1
