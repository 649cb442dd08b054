"""The environment of a server another process starts: its own database, migrated, and the LLM it calls."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from llm_app.server_env import migrate, migrated_sqlite_env, server_env


def test_the_database_and_the_llm_are_the_servers_own_and_overrides_come_last():
    env = server_env(database_url="sqlite:////tmp/x.sqlite3", llm_url="http://llm/v1", DJANGO_DEBUG="false")
    assert (env["DATABASE_URL"], env["LLM_BASE_URL"], env["DJANGO_DEBUG"]) == (
        "sqlite:////tmp/x.sqlite3",
        "http://llm/v1",
        "false",
    )
    assert env["DJANGO_SETTINGS_MODULE"] == "project.settings"


def test_a_migrated_sqlite_environment_has_the_apps_tables(tmp_path: Path):
    env = migrated_sqlite_env(tmp_path, llm_url="http://127.0.0.1:9/v1")
    with sqlite3.connect(env["DATABASE_URL"].removeprefix("sqlite:///")) as db:
        tables = {name for (name,) in db.execute("select name from sqlite_master where type = 'table'")}
    assert {"llm_app_llmcall", "llm_app_message", "llm_app_conversation"} <= tables


def test_a_failed_migrate_says_which_database_and_why(tmp_path: Path):
    missing = tmp_path / "no-such-directory" / "db.sqlite3"
    env = server_env(database_url=f"sqlite:///{missing}", llm_url="http://127.0.0.1:9/v1")
    with pytest.raises(
        RuntimeError, match=f"migrate failed for 'sqlite:///{missing}' .*: .*unable to open database file\n"
    ):
        migrate(env)
