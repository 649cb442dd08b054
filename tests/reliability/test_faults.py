"""Every fault of the table in ``fault_table.py``, through real servers: what the client gets, the rows, the LLM.

For each case: the client's status and how its reply ends, the ``Message`` and ``LLMCall`` rows (status, and the
partial text: exactly what the client was sent), and the simulator's counters afterwards (nothing left active,
as many requests as the SDK's retries explain).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from longrun.servers import free_port
from tests.reliability import fault_table
from tests.reliability.clients import Outcome, post_json, post_sse, ws_prompt
from tests.reliability.conftest import Site, Upstream, running_site
from tests.reliability.fault_table import CASES, Case

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LOCK_S = 1.5
SERVER_ENV = {"LLM_MAX_RETRIES": str(fault_table.LLM_MAX_RETRIES), "LLM_TIMEOUT": str(fault_table.LLM_TIMEOUT)}


@pytest.fixture(scope="module")
def sites(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Site]]]:
    """daphne and gunicorn against the simulator, and the same pair against a port where nothing listens."""
    dead = f"http://127.0.0.1:{free_port()}/v1"
    started: dict[str, dict[str, Site]] = {"up": {}, "down": {}}
    contexts = []
    try:
        for state, base_url in (("up", upstream.url), ("down", dead)):
            for name in ("daphne", "gunicorn"):
                database = tmp_path_factory.mktemp(f"faults-{state}-{name}") / "db.sqlite3"
                context = running_site(name, database, LLM_BASE_URL=base_url, **SERVER_ENV)
                started[state][name] = context.__enter__()
                contexts.append(context)
        yield started
    finally:
        for context in reversed(contexts):
            context.__exit__(None, None, None)


def ask(site: Site, case: Case, prompt: str) -> Outcome:
    if case.path.kind == "json":
        return post_json(site.url + case.path.url, {"prompt": prompt})
    if case.path.kind == "sse":
        return post_sse(site.url + case.path.url, {"prompt": prompt})
    return ws_prompt(site.ws_url, {"prompt": prompt}, origin=site.url)


def ask_while_the_database_is_locked(site: Site, case: Case, prompt: str) -> Outcome:
    """Runs the call in a thread and, once its rows say it is streaming, locks the database for LOCK_S."""
    result: list[Outcome] = []
    client = threading.Thread(target=lambda: result.append(ask(site, case, prompt)))
    client.start()
    deadline = time.monotonic() + 10
    while not site.rows("SELECT 1 FROM llm_app_message WHERE role = 'user' AND content = ?", prompt):
        assert time.monotonic() < deadline, "the call never started"
        time.sleep(0.005)
    with sqlite3.connect(site.database, timeout=20, isolation_level=None) as db:
        db.execute("BEGIN EXCLUSIVE")
        [(status,)] = db.execute("SELECT status FROM llm_app_llmcall ORDER BY id DESC LIMIT 1").fetchall()
        assert status == "streaming", "the lock must fall inside the call"
        time.sleep(LOCK_S)
        db.execute("COMMIT")
    client.join(timeout=60)
    return result[0]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_fault_ends_the_call_the_way_the_table_says(case: Case, sites, upstream: Upstream) -> None:
    site = sites["down" if case.fault.name == "down" else "up"][case.server]
    expect = case.expect
    prompt = f"{case.id} {uuid.uuid4().hex[:8]} {case.fault.marker}".strip()
    before = upstream.settled()

    if case.fault.name == "db-locked":
        outcome = ask_while_the_database_is_locked(site, case, prompt)
    else:
        outcome = ask(site, case, prompt)

    # The client.
    assert outcome.end == expect.end, outcome
    if case.path.kind != "ws":
        assert outcome.status == expect.status, outcome
    assert expect.says in outcome.message, outcome
    if case.path.kind == "json":
        got_tokens = outcome.body.get("tokens", 0)
        sent_text = outcome.body.get("content", "")
    else:
        got_tokens = len(outcome.tokens)
        sent_text = outcome.text
    assert {"none": got_tokens == 0, "some": 0 < got_tokens < upstream.tokens, "all": got_tokens == upstream.tokens}[
        expect.tokens
    ], outcome

    # The rows: the status, and exactly the text the client was sent.
    call = site.call_for(prompt)
    assert (call.message_status, call.status) == (expect.row, expect.row)
    assert call.content == sent_text
    assert call.tokens == got_tokens
    if expect.row == "error":
        assert expect.says in call.error
    assert site.rows("SELECT count(*) FROM llm_app_llmcall WHERE status = 'streaming'") == [(0,)]

    # The LLM: nothing left active, and the requests the retries explain.
    after = upstream.settled()
    assert after["active"] == 0, "an upstream request was left open"
    if expect.upstream is not None:
        finished = sum(after[key] - before[key] for key in ("completed", "cancelled", "errors"))
        assert finished == expect.upstream


@pytest.mark.parametrize("server", ["daphne", "gunicorn"])
def test_an_upstream_429_is_retried_after_its_retry_after_and_then_passed_on(server, sites, upstream) -> None:
    outcome = post_json(sites["up"][server].url + "/api/sync/complete", {"prompt": f"{uuid.uuid4()} [fault:429]"})
    assert outcome.status == 503
    assert outcome.headers["retry-after"] == "1"
    assert outcome.elapsed >= 1.0, "the SDK waited the upstream's Retry-After before its retry"


@pytest.mark.parametrize("path", ["/api/sync/stream", "/api/async/stream"])
def test_a_stall_after_the_first_token_ends_at_llm_timeout_not_when_the_llm_drops_it(path, sites, upstream) -> None:
    outcome = post_sse(sites["up"]["daphne"].url + path, {"prompt": f"{uuid.uuid4()} [fault:stall]"})
    assert outcome.first_token_s is not None
    silence = outcome.elapsed - outcome.first_token_s
    assert silence >= fault_table.LLM_TIMEOUT * 0.9
    # The simulator holds a stall for 60 s, then drops the connection, which would read as a cut: the app's own
    # timeout ended it first.
    assert outcome.end == "error" and "LLM_TIMEOUT" in outcome.message, outcome
    assert upstream.settled()["active"] == 0


def test_the_table_in_docs_reliability_md_is_the_one_the_tests_run() -> None:
    docs = (ROOT / "docs" / "reliability.md").read_text()
    assert fault_table.markdown() in docs, "regenerate it: python -m tests.reliability.fault_table"
