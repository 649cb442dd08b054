"""A server stopped with SIGTERM leaves nothing to the garbage collector and no write failing on its way out.

What the server process printed, from its start to its exit, holds no "Unclosed client session" or "Unclosed
connector" (an LLM client's aiohttp session dropped with its sockets open) and no "A database write failed".
Each server serves one call on every async path first, so that there is a client, a connection to the LLM in
its pool, and rows written. Under gunicorn an async view runs on an event loop of its own per request: the
client that loop built must be closed with it.

Stopped with generations in flight, daphne cancels each of them and each saves its partial answer; the drain
that closes the writers must come after those saves, and daphne's kill must not give up on a connection that
has no application instance (a keep-alive client between requests): docs/reliability.md, "Stopping a server".
"""

from __future__ import annotations

import http.client
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from llm_app import servers as demo_servers
from longrun.servers import free_port, stop_process, wait_until_listening
from tests.production.conftest import postgres_database  # noqa: F401 (a fixture, for the PostgreSQL case)
from tests.reliability.clients import Outcome, post_json, post_sse, ws_prompt
from tests.reliability.conftest import ORIGIN_HOST, ROOT, Upstream, server_env

pytestmark = pytest.mark.e2e

NOISE = ("Unclosed", "A database write failed", "Exception ignored", "Task was destroyed")


@contextmanager
def served(
    name: str, database: Path, upstream: Upstream, env: dict[str, str] | None = None, **options: bool | int
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """Server ``name`` over ``database`` (or ``env``'s), calling ``upstream``: its URL, its process and the file it
    prints to."""
    env = server_env(database, LLM_BASE_URL=upstream.url, **(env or {}))
    port = free_port(ORIGIN_HOST)
    argv, extra = demo_servers.server_command(name, host=ORIGIN_HOST, port=port, **options)
    output = database.with_suffix(".log")
    with output.open("wb") as log:
        process = subprocess.Popen(argv, cwd=ROOT, env={**env, **extra}, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_listening(ORIGIN_HOST, port, process)
        yield f"http://{ORIGIN_HOST}:{port}", process, output
    finally:
        stop_process(process)


def terminated(process: subprocess.Popen[bytes], output: Path) -> str:
    """Sends SIGTERM, waits for the process to exit, and returns everything it printed."""
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    return output.read_text(errors="replace")


def noise(printed: str) -> list[str]:
    return [line for line in printed.splitlines() if any(word in line for word in NOISE)]


def prompt() -> dict[str, str]:
    return {"prompt": f"exit {uuid.uuid4().hex[:8]}"}


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("daphne", {}),
        ("uvicorn", {}),
        # uvicorn without the lifespan (as a project on Django's handler must run it): no shutdown hook closes the
        # client; the loop's end does.
        ("uvicorn", {"lifespan": False}),
    ],
    ids=["daphne", "uvicorn", "uvicorn-no-lifespan"],
)
def test_an_asgi_server_stopped_after_serving_every_async_path_prints_no_unclosed_client_and_no_failed_write(
    upstream: Upstream, name: str, options: dict[str, bool]
):
    with tempfile.TemporaryDirectory(prefix="longrun-exit-") as scratch:
        with served(name, Path(scratch) / "db.sqlite3", upstream, **options) as (url, process, output):
            outcomes: list[Outcome] = [
                post_json(url + "/api/async/complete", prompt()),
                post_sse(url + "/api/async/stream", prompt()),
                ws_prompt(url.replace("http://", "ws://") + "/ws/chat/", prompt(), origin=url),
            ]
            assert [outcome.end for outcome in outcomes] == ["reply", "done", "done"]
            printed = terminated(process, output)
    assert noise(printed) == []


def test_gunicorn_closes_the_client_of_each_async_request_s_own_loop(upstream: Upstream):
    with tempfile.TemporaryDirectory(prefix="longrun-exit-") as scratch:
        with served("gunicorn", Path(scratch) / "db.sqlite3", upstream, workers=1) as (url, process, output):
            outcomes = [post_json(url + "/api/async/complete", prompt()) for _ in range(3)]
            assert [outcome.end for outcome in outcomes] == ["reply"] * 3
            printed = terminated(process, output)
    assert noise(printed) == []


def rows_of(database: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Rows of ``sql`` (``%s`` placeholders) from ``database``: a PostgreSQL URL or a SQLite file's path."""
    if database.startswith("postgres"):
        import psycopg

        with psycopg.connect(database) as connection:
            return connection.execute(sql.encode(), params).fetchall()
    with sqlite3.connect(database, timeout=20) as connection:
        return connection.execute(sql.replace("%s", "?"), params).fetchall()


CALLS_OF_RUN = """
    SELECT call.status, count(*) FROM llm_app_llmcall AS call
    JOIN llm_app_message AS prompt ON prompt.conversation_id = call.conversation_id AND prompt.role = 'user'
    WHERE prompt.content LIKE %s GROUP BY call.status
"""


@pytest.mark.parametrize("vendor", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_daphne_stopped_mid_generation_saves_every_call_and_prints_no_failed_write(
    vendor: str, request: pytest.FixtureRequest, slow_upstream: Upstream, tmp_path: Path
):
    sqlite_file = tmp_path / "db.sqlite3"
    database = request.getfixturevalue("postgres_database") if vendor == "postgresql" else str(sqlite_file)
    env = {"DATABASE_URL": database} if vendor == "postgresql" else {}
    run = f"exit-{uuid.uuid4().hex[:8]}"
    streams, sockets = 20, 10
    with served("daphne", sqlite_file, slow_upstream, env) as (url, process, output):
        # A client that keeps its connection open after its request (HTTP keep-alive, a proxy's upstream pool):
        # once daphne's once-a-second sweep has dropped the finished instance, the connection has none.
        idle = http.client.HTTPConnection(ORIGIN_HOST, int(url.rsplit(":", 1)[1]), timeout=30)
        idle.request("GET", "/__longrun_ready__")
        idle.getresponse().read()
        time.sleep(1.5)
        clients = [
            threading.Thread(target=post_sse, args=(url + "/api/async/stream", {"prompt": f"{run} sse {n}"}))
            for n in range(streams)
        ] + [
            threading.Thread(
                target=ws_prompt,
                args=(url.replace("http://", "ws://") + "/ws/chat/", {"prompt": f"{run} ws {n}"}),
                kwargs={"origin": url},
            )
            for n in range(sockets)
        ]
        for client in clients:
            client.start()
        deadline = time.monotonic() + 30
        while dict(rows_of(database, CALLS_OF_RUN, run + "%")).get("streaming", 0) < streams + sockets:
            assert time.monotonic() < deadline, "the generations did not all start"
            time.sleep(0.05)
        printed = terminated(process, output)
        idle.close()
        for client in clients:
            client.join(timeout=30)
    assert process.returncode == 0
    assert dict(rows_of(database, CALLS_OF_RUN, run + "%")) == {"cancelled": streams + sockets}
    assert noise(printed) == []


def test_a_line_the_app_logs_is_printed_once_under_daphne():
    # daphne gives the root logger a handler of its own: a propagated record was printed by it and by the
    # project's console handler.
    nobody = Upstream(url=f"http://{ORIGIN_HOST}:{free_port(ORIGIN_HOST)}/v1", ttft_ms=0, token_ms=0, tokens=0)
    with tempfile.TemporaryDirectory(prefix="longrun-exit-") as scratch:
        with served("daphne", Path(scratch) / "db.sqlite3", nobody) as (_url, process, output):
            deadline = time.monotonic() + 30
            while "did not answer at start-up" not in output.read_text() and time.monotonic() < deadline:
                time.sleep(0.1)
            printed = terminated(process, output)
    assert len([line for line in printed.splitlines() if "did not answer at start-up" in line]) == 1, printed
