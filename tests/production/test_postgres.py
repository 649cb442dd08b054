"""Recording on PostgreSQL never holds a connection across the LLM wait.

Twenty concurrent users against a server whose pool has five connections and gives up after one second,
while each LLM reply takes about three: if a request kept its connection from the first write to the last,
fifteen of them would wait for a connection longer than the pool allows and fail. Handing the connection back
after each write lets all twenty through.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import aiohttp
import pytest

from tests.e2e.conftest import ROOT, running_server

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

USERS = 20


@pytest.fixture(scope="module")
def pg_env(postgres_database, slow_simulator) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings_test",
        "DATABASE_URL": postgres_database,
        "DATABASE_POOL_SIZE": "5",
        "DATABASE_POOL_TIMEOUT": "1",
        "LLM_BASE_URL": slow_simulator.url,
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    return env


async def post_all(url: str) -> list[tuple[int, dict]]:
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> tuple[int, dict]:
            async with session.post(url, json={"prompt": f"User {i}", "max_tokens": 30}) as reply:
                return reply.status, await reply.json()

        return await asyncio.gather(*(one(i) for i in range(USERS)))


@pytest.mark.parametrize("path", ["/api/async/complete", "/api/sync/complete"])
def test_twenty_users_share_a_five_connection_pool_while_they_wait_on_the_llm(pg_env, path):
    with running_server("uvicorn", pg_env) as base:
        replies = asyncio.run(post_all(base + path))
    statuses = [status for status, _ in replies]
    assert statuses == [200] * USERS, [body for status, body in replies if status != 200][:3]
    assert all(body["status"] == "complete" and body["tokens"] == 30 for _, body in replies)

    import psycopg

    with psycopg.connect(pg_env["DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM llm_app_llmcall WHERE path = %s GROUP BY status", [path.split("/")[2]]
        ).fetchall()
    assert rows == [("complete", USERS)]
