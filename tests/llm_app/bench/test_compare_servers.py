"""`compare_servers --quick` end to end: real servers, every figure present, the worker pool's rounds visible.

The pool's claims are facts of count and order, not of elapsed time: the LLM's own count of calls in flight, and
rounds told by who finished before whom (``served_per_round``), so that a loaded machine cannot change them.
"""

from __future__ import annotations

import json
import math
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from llm_app.bench.scenarios import Scenario, quick

pytestmark = pytest.mark.e2e

FIGURES = {
    "kind",
    "concurrency",
    "requests",
    "completed",
    "errors",
    "wall_s",
    "throughput_rps",
    "ideal_rps",
    "efficiency",
    "latency_p50_s",
    "latency_p95_s",
    "latency_p99_s",
    "ttft_p50_s",
    "ttft_p99_s",
    "last_user_wait_s",
    "tokens",
}
PROCESS = {"cpu_s", "cpu_percent", "peak_rss_bytes", "peak_threads"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    stem = tmp_path_factory.mktemp("bench") / "quick"
    out = StringIO()
    call_command("compare_servers", "--quick", "--output", str(stem), stdout=out)
    return json.loads(stem.with_suffix(".json").read_text()), stem, out.getvalue()


def test_the_quick_run_covers_every_path_each_server_can_serve(quick_run):
    data, _, _ = quick_run
    assert [f"{r['server']}/{r['path']}" for r in data["runs"]] == [t.label for t in quick().targets()]
    assert "gunicorn/websocket" not in {f"{r['server']}/{r['path']}" for r in data["runs"]}


def test_every_run_reports_every_figure(quick_run):
    data, _, _ = quick_run
    assert len(data["runs"]) == len(quick().targets()) == 6
    for run in data["runs"]:
        assert set(run["figures"]) >= FIGURES, run["server"]
        assert set(run["server_stats"]) >= PROCESS
        assert set(run["simulator_stats"]) >= PROCESS
        assert {"seconds", "percent"} <= set(run["client_cpu"])
        assert run["rss_per_inflight_kib"] >= 0
        assert run["figures"]["completed"] == 32, run
        assert run["upstream"]["completed"] == 32, run  # one LLM call per user, each answered whole


def test_five_sync_workers_never_have_more_than_five_llm_calls_in_flight(quick_run):
    data, _, _ = quick_run
    pool = next(r for r in data["runs"] if (r["server"], r["path"]) == ("gunicorn", "sync"))
    # The simulator's own count over the burst: five at once, never a sixth, though 32 users were waiting.
    assert pool["upstream"]["peak_active"] == 5


def test_five_sync_workers_serve_thirty_two_users_in_rounds_of_five(quick_run):
    data, _, _ = quick_run
    pool = next(r for r in data["runs"] if (r["server"], r["path"]) == ("gunicorn", "sync"))
    rounds = pool["served_per_round"]
    assert len(rounds) == math.ceil(32 / 5)
    assert rounds[0] == 5 and max(rounds) == 5 and sum(rounds) == 32


def test_the_table_json_chart_and_markdown_are_written(quick_run):
    data, stem, printed = quick_run
    assert "efficiency" in printed and "gunicorn/sync" in printed
    assert stem.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    rows = stem.with_suffix(".md").read_text().splitlines()
    assert len(rows) == 2 + len(data["runs"]) and rows[2].startswith("| gunicorn/sync | 32 | 32 | 0 |")
    assert data["environment"]["cores"] >= 1
    assert data["command"].startswith("python manage.py compare_servers")


def test_only_asgi_servers_get_the_websocket_path():
    labels = [t.label for t in Scenario(servers=("gunicorn", "daphne", "floor")).targets()]
    assert labels == [
        "gunicorn/sync",
        "gunicorn/async",
        "daphne/sync",
        "daphne/async",
        "daphne/websocket",
        "floor/async",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--concurrency", "32,abc"], "comma-separated integers"),
        (["--concurrency", "0"], "1 or more"),
        (["--servers", "apache"], "unknown apache"),
        (["--paths", "carrier-pigeon"], "unknown carrier-pigeon"),
        (["--tokens", "0"], "--tokens"),
        (["--processes", "0"], "--processes needs"),
    ],
)
def test_bad_options_are_refused_with_the_fix(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("compare_servers", *args)


def test_each_asgi_server_is_measured_at_each_process_count_and_a_pool_once():
    scenario = Scenario(servers=("gunicorn", "uvicorn", "floor"), paths=("complete",), processes=(1, 2))
    labels = [t.label for t in scenario.targets()]
    assert labels == [
        "gunicorn/complete",
        "uvicorn/complete",
        "uvicornx2/complete",
        "floor/complete",
        "floorx2/complete",
    ]
