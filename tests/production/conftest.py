"""The production configuration's services: PostgreSQL and Redis on 127.0.0.1.

Locally, a missing service skips these tests with the command that starts it; in CI (CI=true) it fails them,
because .ci/run starts both and a silent skip would hide a broken production configuration.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get("LONGRUN_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("LONGRUN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _require(host: str, port: int, what: str, start: str) -> None:
    with socket.socket() as sock:
        sock.settimeout(1)
        if sock.connect_ex((host, port)) == 0:
            return
    message = f"{what} is not reachable on {host}:{port}. Start it: {start}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this session; its URL. Dropped at the end."""
    _require("127.0.0.1", 5432, "PostgreSQL", "bash .ci/run starts it, or pg_ctlcluster <version> main start")
    import psycopg

    name = f"longrun_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> str:
    _require("127.0.0.1", 6379, "Redis", "bash .ci/run starts it, or redis-server --daemonize yes")
    return REDIS_URL


@contextmanager
def two_processes(
    server: str, directory: Path, *, redis_url: str, llm_url: str, rate_limit: str
) -> Iterator[tuple[str, str]]:
    """Two ``server`` processes on one migrated SQLite file and one Redis (under a key prefix of their own), with
    ``LLM_RATE_LIMIT`` and the client's address read from X-Real-IP, as behind docs/deployment.md's proxy."""
    from llm_app.server_env import migrated_sqlite_env
    from tests.e2e.conftest import running_server

    env = migrated_sqlite_env(
        directory,
        llm_url=llm_url,
        settings_module="project.settings_test",
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=f"longrun-test-{uuid.uuid4().hex[:8]}",
        LLM_RATE_LIMIT=rate_limit,
        LLM_CLIENT_IP_HEADER="X-Real-IP",
    )
    with running_server(server, env) as first, running_server(server, env) as second:
        yield first, second
