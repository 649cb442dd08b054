"""Real servers for the reliability tests: a fault-ready simulator, migrated SQLite files, and sync clients.

Every server here runs the demo as deployed (``project.settings_test``, which keeps the warnings-as-errors of
the suite) against its own SQLite file, which the tests read directly to check the rows each call left.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llm_app import servers as demo_servers
from longrun.simulator import SimulatorConfig, SimulatorProcess, fetch_stats, settled_stats

ROOT = Path(__file__).resolve().parents[2]
ORIGIN_HOST = "127.0.0.1"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[Any]:
    try:
        return (yield)
    finally:
        # Hypothesis turns a failing example into a source patch through libcst, which raises AttributeError
        # (__provides__, from zope.interface in this environment) and turns the failure into a pytest INTERNALERROR
        # that hides it. The failing example is still printed with the failure itself.
        item.__dict__.pop("_hypothesis_failing_examples", None)


# --- the simulator ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upstream:
    """The simulator the servers call, and its counters."""

    url: str
    ttft_ms: int
    token_ms: int
    tokens: int

    def stats(self) -> dict[str, int]:
        return fetch_stats(self.url, timeout=5)

    def settled(self, timeout: float = 15.0) -> dict[str, int]:
        """The counters once nothing is active any more (or as they are when the timeout passes)."""
        return settled_stats(self.url, timeout=timeout)


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    """12 tokens in about 0.5 s; a stalled reply is dropped by the simulator only after a minute."""
    ttft_ms, token_ms, tokens = 50, 40, 12
    config = SimulatorConfig(ttft_ms=ttft_ms, token_ms=token_ms, tokens=tokens, stall_cap_s=60)
    with SimulatorProcess(config) as sim:
        yield Upstream(url=sim.base_url, ttft_ms=ttft_ms, token_ms=token_ms, tokens=tokens)


# --- servers ----------------------------------------------------------------------------------------------------


@dataclass
class Site:
    """A running server: its base URL, its process, and the SQLite file its rows go to."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    database: Path
    env: dict[str, str] = field(repr=False)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws/chat/"

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.database, timeout=20) as db:
            return db.execute(sql, params).fetchall()

    def call_for(self, prompt: str, timeout: float = 10.0) -> Call:
        """The assistant message and LLMCall of the prompt's call, once the call has ended (or as they are)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.rows(CALL_SQL, prompt)
            if found and (found[0][0] != "streaming" or time.monotonic() > deadline):
                return Call(*found[0])
            if not found and time.monotonic() > deadline:
                raise AssertionError(f"No call was recorded for the prompt {prompt!r}.")
            time.sleep(0.05)


CALL_SQL = """
    SELECT answer.status, answer.content, call.status, call.error, call.tokens
    FROM llm_app_message AS prompt
    JOIN llm_app_message AS answer ON answer.conversation_id = prompt.conversation_id AND answer.role = 'assistant'
    JOIN llm_app_llmcall AS call ON call.message_id = answer.id
    WHERE prompt.role = 'user' AND prompt.content = ?
"""


@dataclass(frozen=True)
class Call:
    message_status: str
    content: str
    status: str
    error: str
    tokens: int


def server_env(database: Path, **overrides: str) -> dict[str, str]:
    """The environment of a server process over ``database`` (migrated here)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings_test",
        "DATABASE_URL": f"sqlite:///{database}",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_ALLOWED_HOSTS": ORIGIN_HOST,
        **overrides,
    }
    if not database.exists():
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    return env


@contextmanager
def running_site(name: str, database: Path, **env: str) -> Iterator[Site]:
    """Starts server ``name`` (``gunicorn`` with 2 sync workers) over ``database``; stops it on exit."""
    full_env = server_env(database, **env)
    options = {"workers": 2} if name in {"gunicorn", "gthread"} else {}
    with demo_servers.running_server(name, env=full_env, cwd=ROOT, **options) as (url, process):
        yield Site(name=name, url=url, process=process, database=database, env=full_env)


SiteFactory = Callable[..., Any]


@pytest.fixture(scope="session")
def site_factory(tmp_path_factory: pytest.TempPathFactory) -> SiteFactory:
    """``site_factory(name, **env)``: a context manager of a server over a fresh SQLite file."""

    def make(name: str, **env: str) -> Any:
        return running_site(name, tmp_path_factory.mktemp(name) / "db.sqlite3", **env)

    return make


@pytest.fixture(scope="session")
def slow_upstream() -> Iterator[Upstream]:
    """40 tokens over about 4 s: long enough to stop a server, or hang up, in the middle of each reply."""
    ttft_ms, token_ms, tokens = 100, 100, 40
    with SimulatorProcess(SimulatorConfig(ttft_ms=ttft_ms, token_ms=token_ms, tokens=tokens)) as sim:
        yield Upstream(url=sim.base_url, ttft_ms=ttft_ms, token_ms=token_ms, tokens=tokens)
