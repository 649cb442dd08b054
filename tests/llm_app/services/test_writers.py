"""The writers: SQLite's thread batches writes into shared commits, survives a broken connection, loses nothing."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest
from django.db import connections

from llm_app.models import CallPath, Interface, LLMCall, Status
from llm_app.server_env import migrate, server_env, sqlite_url
from llm_app.services import rows
from llm_app.services.rows import ConversationNotFound, Start
from llm_app.services.writers import AsyncPoolWriter, SQLiteWriter
from longrun.hops import count_hops

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[3]
# SQLiteWriter on the test database: in the run on PostgreSQL (./run test-postgres) it is not SQLite.
on_sqlite = pytest.mark.skipif(connections["default"].vendor != "sqlite", reason="the test database is not SQLite")
on_postgres = pytest.mark.skipif(
    connections["default"].vendor != "postgresql", reason="the async pool writer is PostgreSQL's"
)


def start_write(prompt: str = "hi", conversation_id: int | None = None):
    start = Start(prompt, conversation_id, CallPath.ASYNC, Interface.ASGI, "sim")
    return lambda cursor, alias: rows.write_start(cursor, alias, start=start)


@on_sqlite
def test_writes_queued_while_the_thread_is_busy_share_one_commit():
    writer = SQLiteWriter()
    busy, release = threading.Event(), threading.Event()

    def hold(cursor, alias):
        busy.set()
        release.wait(10)

    first = writer.submit(hold)
    busy.wait(10)
    queued = [writer.submit(start_write(f"user {n}")) for n in range(50)]
    release.set()
    records = [future.result(timeout=30) for future in queued]
    first.result(timeout=30)
    assert writer.batches == 2
    assert len({record.call_id for record in records}) == 50


@on_sqlite
def test_a_failing_write_undoes_only_itself_in_a_shared_commit():
    writer = SQLiteWriter()
    busy, release = threading.Event(), threading.Event()
    writer.submit(lambda cursor, alias: (busy.set(), release.wait(10)))
    busy.wait(10)
    good, bad, also_good = (
        writer.submit(start_write("a")),
        writer.submit(start_write("b", 999_999)),
        writer.submit(start_write("c")),
    )
    release.set()
    with pytest.raises(ConversationNotFound):
        bad.result(timeout=30)
    assert {good.result(timeout=30).call_id, also_good.result(timeout=30).call_id} <= set(
        LLMCall.objects.values_list("pk", flat=True)
    )
    assert LLMCall.objects.count() == 2


@on_sqlite
def test_a_write_that_meets_a_locked_table_is_written_once_the_lock_clears(caplog):
    writer = SQLiteWriter()
    for prompt in ("one", "two"):
        writer.run(start_write(prompt))
    connection = connections["default"]
    connection.ensure_connection()
    # Another connection reads the table and stops half-way: its read holds the table until it is closed.
    # (A shared in-memory database answers "database table is locked" at once; a file answers "database is
    # locked" once its busy timeout has passed: sqlite3 raises the same OperationalError for both.)
    reader = connection.connection.cursor()
    reader.execute("SELECT id FROM llm_app_llmcall")
    reader.fetchone()
    with caplog.at_level(logging.WARNING, logger="llm_app.dbretry"):
        written = writer.submit(start_write("locked out"))
        for _ in range(200):  # a bound against a hang, not a timing claim: until the writer met the lock
            if any("locked" in logged.getMessage() for logged in caplog.records) or written.done():
                break
            time.sleep(0.05)
        reader.close()
    record = written.result(timeout=30)
    assert any("locked" in logged.getMessage() for logged in caplog.records), "the write met the lock"
    assert LLMCall.objects.filter(pk=record.call_id).exists()


# A file database: Django never closes an in-memory one, so a broken connection there could not be replaced.
@pytest.mark.django_db(transaction=True, databases=["default", "housekeeping"])
def test_after_a_broken_connection_the_next_write_reconnects():
    writer = SQLiteWriter("housekeeping")

    def break_it(cursor, alias):
        connections[alias].connection.close()  # the sqlite3 connection under Django's wrapper
        cursor.execute("SELECT 1")

    with pytest.raises(Exception):  # noqa: B017 (whatever sqlite3 raises for a closed connection)
        writer.run(break_it)
    record = writer.run(start_write("after"))
    assert LLMCall.objects.using("housekeeping").filter(pk=record.call_id).exists()


@on_sqlite
async def test_an_async_write_waits_on_the_thread_without_a_hop_of_its_own():
    writer = SQLiteWriter()
    await writer.arun(start_write("warm"))
    with count_hops() as hops:
        record = await writer.arun(start_write("counted"))
    assert hops.total == 0
    assert await LLMCall.objects.filter(pk=record.call_id, status=Status.STREAMING).aexists()


EXIT_WITH_WRITES_QUEUED = """
import django, sys
django.setup()
from llm_app.models import CallPath, Interface
from llm_app.services import rows
from llm_app.services.rows import Start
from llm_app.services.writers import sync_writer

writer = sync_writer()
for n in range(200):
    start = Start(f"user {n}", None, CallPath.ASYNC, Interface.ASGI, "sim")
    writer.submit(lambda cursor, alias, start=start: rows.write_start(cursor, alias, start=start))
sys.exit(0)  # at once: the writes are still queued
"""


@pytest.mark.e2e
def test_writes_still_queued_when_the_process_exits_are_written(tmp_path):
    env = server_env(database_url=sqlite_url(tmp_path), llm_url="http://127.0.0.1:9/v1")
    migrate(env)
    done = subprocess.run([sys.executable, "-c", EXIT_WITH_WRITES_QUEUED], cwd=ROOT, env=env, check=True)
    assert done.returncode == 0
    import sqlite3

    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM llm_app_llmcall").fetchone()[0] == 200


@on_postgres
async def test_a_write_after_the_pool_writer_drained_lands_through_django_s_pool_without_a_new_pool():
    writer = AsyncPoolWriter()
    begin = Start("before the drain", None, CallPath.ASYNC, Interface.ASGI, "sim")
    await writer.arun(partial(rows.awrite_start, start=begin), partial(rows.write_start, start=begin))
    await writer.drain()
    late = Start("after the drain", None, CallPath.ASYNC, Interface.ASGI, "sim")
    record = await writer.arun(partial(rows.awrite_start, start=late), partial(rows.write_start, start=late))
    assert await LLMCall.objects.filter(pk=record.call_id).aexists()
    assert len(writer._pools) == 0
