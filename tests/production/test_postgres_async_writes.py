"""On PostgreSQL the async path writes through psycopg's async pool: no thread, the rows the ORM would write."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llm_app.server_env import migrate, server_env

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, django
django.setup()
from llm_app.models import CallPath, Interface, LLMCall, Status
from llm_app.services import recording, writers
from llm_app.services.schemas import ChatResult
from longrun.hops import count_hops

def done(record):
    return ChatResult(conversation=record.conversation_id, message=record.message_id, content="answer",
                      tokens=3, ttft_ms=1.0, duration_ms=2.0, status=Status.COMPLETE)

async def call(prompt, conversation_id=None):
    record = await recording.astart(
        prompt=prompt, conversation_id=conversation_id, path=CallPath.ASYNC, interface=Interface.ASGI, model="m"
    )
    await recording.afinish(record=record, result=done(record))
    return record

async def main():
    await writers.awarm()
    first = await call("warm up")  # the process's own threads (the sweep, the dashboard's publisher) start here
    with count_hops() as hops:
        await asyncio.gather(*(call(f"user {n}") for n in range(50)))
        again = await call("and then?", first.conversation_id)
    await writers.adrain()
    print("hops", hops.total)
    print("what", repr(hops.describe()))
    print("history", [m["content"] for m in again.messages])

asyncio.run(main())
print("complete", LLMCall.objects.filter(status="complete", tokens=3).count())
"""


def test_the_async_path_writes_through_the_pool_without_a_thread(postgres_database):
    env = server_env(database_url=postgres_database, llm_url="http://127.0.0.1:9/v1")
    migrate(env)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.strip().splitlines())
    assert lines["hops"] == "0", lines
    assert lines["history"] == "['warm up', 'answer', 'and then?']"
    assert lines["complete"] == "52"
