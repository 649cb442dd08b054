"""Fixtures shared by every test: real LLM simulator processes, and the settings that point the app at them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from longrun.simulator import SimulatorConfig, SimulatorProcess


@dataclass(frozen=True)
class Simulator:
    """A simulator process started for the test session, and what it was told."""

    url: str
    ttft_ms: int
    token_ms: int
    tokens: int
    process: SimulatorProcess = field(repr=False, compare=False)

    @property
    def reply_ms(self) -> int:
        return self.ttft_ms + self.tokens * self.token_ms

    def stats(self) -> dict[str, int]:
        """The simulator's counters (``GET /stats``)."""
        return self.process.stats()

    async def astats(self) -> dict[str, int]:
        """The same counters, fetched off the event loop."""
        return await asyncio.to_thread(self.stats)


@contextmanager
def _simulator(ttft_ms: int, token_ms: int, tokens: int) -> Iterator[Simulator]:
    with SimulatorProcess(SimulatorConfig(ttft_ms=ttft_ms, token_ms=token_ms, tokens=tokens)) as process:
        yield Simulator(url=process.base_url, ttft_ms=ttft_ms, token_ms=token_ms, tokens=tokens, process=process)


@pytest.fixture(scope="session")
def fast_simulator() -> Iterator[Simulator]:
    """A quick LLM: 20 tokens in about 0.25 s, for tests that need whole replies."""
    with _simulator(ttft_ms=50, token_ms=10, tokens=20) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def slow_simulator() -> Iterator[Simulator]:
    """A slow LLM: 40 tokens over about 4 s, for tests that stop or disconnect mid-reply."""
    with _simulator(ttft_ms=100, token_ms=100, tokens=40) as simulator:
        yield simulator


@pytest.fixture
def llm(settings: Any, fast_simulator: Simulator) -> Simulator:
    """Points the app at the fast simulator."""
    settings.LLM_BASE_URL = fast_simulator.url
    return fast_simulator


@pytest.fixture
def slow_llm(settings: Any, slow_simulator: Simulator) -> Simulator:
    """Points the app at the slow simulator."""
    settings.LLM_BASE_URL = slow_simulator.url
    return slow_simulator


@pytest.fixture
async def async_clients() -> AsyncIterator[None]:
    """Closes the test loop's async OpenAI clients at the end, so no socket outlives its loop."""
    from llm_app.services.clients import aclose_clients

    yield
    await aclose_clients()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's test databases; on PostgreSQL, every session on them is ended before they are dropped.

    PostgreSQL will not drop a database that has sessions, and a test's async ORM call leaves its connection
    checked out on asgiref's shared sync thread, out of reach of Django's teardown (which closes only its own
    thread's connection and the pool). Only in the run with DATABASE_URL on PostgreSQL (``./run test-postgres``).
    """
    yield
    import psycopg
    from django.db import connections

    with django_db_blocker.unblock():
        for connection in connections.all(initialized_only=True):
            if connection.vendor != "postgresql":
                continue
            params = {**connection.get_connection_params(), "dbname": "postgres"}
            params.pop("context", None)
            with psycopg.connect(**params, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    [connection.settings_dict["NAME"]],
                )
