"""A server stopped with SIGTERM leaves nothing to the garbage collector and no write failing on its way out.

What the server process printed, from its start to its exit, holds no "Unclosed client session" or "Unclosed
connector" (an LLM client's aiohttp session dropped with its sockets open) and no "A database write failed".
Each server serves one call on every async path first, so that there is a client, a connection to the LLM in
its pool, and rows written. Under gunicorn an async view runs on an event loop of its own per request: the
client that loop built must be closed with it.
"""

from __future__ import annotations

import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from llm_app import servers as demo_servers
from longrun.servers import free_port, stop_process, wait_until_listening
from tests.reliability.clients import Outcome, post_json, post_sse, ws_prompt
from tests.reliability.conftest import ORIGIN_HOST, ROOT, Upstream, server_env

pytestmark = pytest.mark.e2e

NOISE = ("Unclosed", "A database write failed", "Exception ignored", "Task was destroyed")


@contextmanager
def served(
    name: str, database: Path, upstream: Upstream, **options: bool | int
) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """Server ``name`` over ``database``, calling ``upstream``: its URL, its process and the file it prints to."""
    env = server_env(database, LLM_BASE_URL=upstream.url)
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
        # The README's uvicorn command: no lifespan, so no shutdown hook closes the client; the loop's end does.
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
