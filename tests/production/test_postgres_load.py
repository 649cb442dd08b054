"""A hundred concurrent streams on PostgreSQL hold no more connections than the pools allow, and all run at once.

The 500-stream figures are benchmarks/postgres_load.py's (docs/deployment.md); this is the same measurement at a
size the suite can afford: two processes with five-connection pools, a hundred streams of two seconds each.
"""

from __future__ import annotations

import pytest

from llm_app.bench.postgres_load import measure
from llm_app.bench.scenarios import LLMTiming
from tests.production.conftest import POSTGRES_URL

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

STREAMS = 100


@pytest.fixture(scope="module")
def run(postgres_database):
    # postgres_database: PostgreSQL is up (or the test fails in CI); the run makes a database of its own.
    return measure(
        streams=STREAMS,
        processes=2,
        pool_size=5,
        path="async",
        timing=LLMTiming(ttft_ms=200, token_ms=40, tokens=50),
        admin_url=POSTGRES_URL,
    )


def test_every_stream_completes(run):
    assert (run.completed, run.errors) == (STREAMS, {})


def test_open_connections_stay_within_the_pools_during_the_load(run):
    assert run.activity_samples > 10
    assert 0 < run.connections_peak <= run.pool_budget == 10


def test_connections_return_to_idle_after_the_load(run):
    assert set(run.connections_after) == {"idle"}
    assert run.connections_after["idle"] <= run.pool_budget


def test_no_stream_holds_a_connection_across_its_llm_call(run):
    # Held across the call, a connection would cap the calls in flight at the pools' ten.
    assert run.llm_in_flight_peak > 3 * run.pool_budget
