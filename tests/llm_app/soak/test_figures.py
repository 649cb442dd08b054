"""A server seen from outside: its database connections by target, its loop's last probe window."""

from __future__ import annotations

import json
import os
import sqlite3

from llm_app.soak.figures import DatabaseTarget, LoopFigures, read_probe, read_process


def test_a_sqlite_url_is_recognised_by_its_file_and_a_postgres_one_by_its_port(tmp_path):
    assert DatabaseTarget.from_url(f"sqlite:///{tmp_path}/db.sqlite3").sqlite_path == str(tmp_path / "db.sqlite3")
    assert DatabaseTarget.from_url("postgres://u@127.0.0.1:5433/x").port == 5433
    assert DatabaseTarget.from_url("postgres://u@db/x").port == 5432


def test_an_open_sqlite_connection_counts_as_one(tmp_path):
    path = tmp_path / "db.sqlite3"
    target = DatabaseTarget.from_url(f"sqlite:///{path}")
    before = read_process(os.getpid(), target).db_connections
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
        assert read_process(os.getpid(), target).db_connections == before + 1
    db.close()


def test_the_probe_is_read_from_its_last_line_and_is_empty_before_the_first(tmp_path):
    probe = tmp_path / "probe.jsonl"
    assert read_probe(probe) == LoopFigures()
    lines = [
        {"lag_p50_ms": 1, "lag_p99_ms": 2, "lag_max_ms": 3, "tasks": 4},
        {"lag_p50_ms": 5, "lag_p99_ms": 6, "lag_max_ms": 7, "tasks": 8},
    ]
    probe.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert read_probe(probe) == LoopFigures(lag_p50_ms=5, lag_p99_ms=6, lag_max_ms=7, tasks=8)


def test_the_kinds_of_tasks_come_from_the_last_window(tmp_path):
    from llm_app.soak.figures import read_task_kinds

    probe = tmp_path / "probe.jsonl"
    assert read_task_kinds(probe) == []
    probe.write_text(json.dumps({"tasks": 3, "task_kinds": [["ChatConsumer._generate", 2], ["Queue.get", 1]]}) + "\n")
    assert read_task_kinds(probe) == [("ChatConsumer._generate", 2), ("Queue.get", 1)]
