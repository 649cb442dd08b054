"""gunicorn's worker timeout cuts a long LLM call on a sync worker, and only there.

``--timeout`` (30 s by default) is a heartbeat: a worker that does not report to the arbiter for that long is
killed. A sync worker cannot report while its one request waits on the LLM, so a call longer than the timeout
dies with its worker. A gthread worker reports from its main thread while requests wait in others, and an async
worker (uvicorn's, under gunicorn) from its event loop while calls await, so neither is cut. Here the timeout is
2 s and each call about 4 s, the same race at a smaller scale than 30 s against a long answer.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from longrun.servers import free_port, stop_process, wait_until_listening
from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e

TIMEOUT_S = 2
PAYLOAD = {"prompt": "A long answer"}  # the slow simulator's whole reply: 40 tokens, about 4 s


def post(base: str, path: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=30)
    try:
        connection.request("POST", path, json.dumps(PAYLOAD), {"Content-Type": "application/json"})
        reply = connection.getresponse()
        return reply.status, reply.read().decode()
    finally:
        connection.close()


@contextmanager
def gunicorn(env: dict[str, str], *worker: str) -> Iterator[tuple[str, Path]]:
    """gunicorn with one worker of the given class and ``--timeout 2``; yields its URL and its log."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "-w",
        "1",
        *worker,
        "-b",
        f"127.0.0.1:{port}",
        "--timeout",
        str(TIMEOUT_S),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_listening("127.0.0.1", port, process)
        yield f"http://127.0.0.1:{port}", log
    finally:
        stop_process(process)
        log.unlink(missing_ok=True)


def test_a_sync_worker_is_killed_mid_call_when_the_call_outlasts_the_timeout(e2e_env):
    with gunicorn(e2e_env, "-k", "sync", "project.wsgi:application") as (base, log):
        status, body = post(base, "/api/sync/complete")
        # The worker is aborted mid-call; gunicorn answers for it with a bare 500 page, not the app's JSON.
        assert status == 500 and "Internal Server Error" in body
        assert "WORKER TIMEOUT" in log.read_text()


def test_a_gthread_worker_keeps_reporting_while_a_call_waits(e2e_env):
    with gunicorn(e2e_env, "-k", "gthread", "--threads", "4", "project.wsgi:application") as (base, log):
        status, body = post(base, "/api/sync/complete")
        assert (status, json.loads(body)["status"]) == (200, "complete")
        assert "WORKER TIMEOUT" not in log.read_text()


def test_an_async_worker_keeps_reporting_while_a_call_awaits(e2e_env):
    worker = ["-k", "uvicorn.workers.UvicornWorker", "project.asgi:application"]
    with gunicorn(e2e_env, *worker) as (base, log):
        status, body = post(base, "/api/async/complete")
        assert (status, json.loads(body)["status"]) == (200, "complete")
        assert "WORKER TIMEOUT" not in log.read_text()
