"""PostgreSQL refusing every connection for a few seconds in the middle of calls: the saves wait, nothing is lost.

The database is made unavailable the way a restart or a failover looks to the app: its connections are
terminated (``pg_terminate_backend``) and new ones refused (``ALLOW_CONNECTIONS false``) while three calls are
streaming; it comes back after their replies ended. Each call's last write meets a dead or refused connection
and is retried (``llm_app.dbretry``): the users get their whole replies a little late, the rows are
``complete`` with their whole text. Without the retries the save failed, the stream broke off, and the rows
stayed ``streaming`` in a live process.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from llm_app.server_env import migrate, server_env
from llm_app.servers import running_server
from tests.reliability.clients import Outcome, post_sse, ws_prompt
from tests.reliability.conftest import ROOT, Upstream

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

ADMIN_URL = os.environ.get("LONGRUN_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def database() -> Iterator[str]:
    from tests.production.conftest import _require

    _require("127.0.0.1", 5432, "PostgreSQL", "bash .ci/run starts it, or pg_ctlcluster <version> main start")
    name = f"longrun_outage_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def refuse_connections(name: str, *, refuse: bool) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {"false" if refuse else "true"}')
        if refuse:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])


def test_a_database_that_refuses_connections_for_a_moment_delays_the_saves_and_loses_nothing(
    database: str, slow_upstream: Upstream
) -> None:
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    env = server_env(database_url=url, llm_url=slow_upstream.url, DJANGO_SETTINGS_MODULE="project.settings_test")
    migrate(env)
    prompts = {kind: f"outage {kind} {uuid.uuid4().hex[:8]}" for kind in ("async", "sync", "ws")}
    outcomes: dict[str, Outcome] = {}
    with running_server("daphne", env=env, cwd=ROOT) as (base, _process):
        calls = {
            "async": lambda: post_sse(base + "/api/async/stream", {"prompt": prompts["async"]}),
            "sync": lambda: post_sse(base + "/api/sync/stream", {"prompt": prompts["sync"]}),
            "ws": lambda: ws_prompt(base.replace("http", "ws") + "/ws/chat/", {"prompt": prompts["ws"]}, origin=base),
        }
        threads = [threading.Thread(target=lambda k=k: outcomes.__setitem__(k, calls[k]())) for k in calls]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # every call has its rows and its first tokens
        refuse_connections(database, refuse=True)
        try:
            # The replies end about 4.1 s after they started: every last write falls in the outage.
            time.sleep(4.5)
        finally:
            refuse_connections(database, refuse=False)
        for thread in threads:
            thread.join(timeout=60)

    assert {kind: outcome.end for kind, outcome in outcomes.items()} == dict.fromkeys(calls, "done")
    with psycopg.connect(url) as db:
        for kind, prompt in prompts.items():
            [(status, content, tokens)] = db.execute(
                "SELECT c.status, m.content, c.tokens FROM llm_app_message AS p"
                " JOIN llm_app_message AS m ON m.conversation_id = p.conversation_id AND m.role = 'assistant'"
                " JOIN llm_app_llmcall AS c ON c.message_id = m.id WHERE p.role = 'user' AND p.content = %s",
                [prompt],
            ).fetchall()
            assert (status, tokens) == ("complete", slow_upstream.tokens), kind
            assert content == outcomes[kind].text, kind
