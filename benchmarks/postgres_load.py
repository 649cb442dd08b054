"""Hundreds of concurrent streams on PostgreSQL: the connections they hold, and the LLM calls in flight meanwhile.

    .venv/bin/python benchmarks/postgres_load.py [--streams 500] [--processes 2] [--pool-size 10]
        [--paths async,websocket] [--server uvicorn] [--ttft-ms 200 --token-ms 40 --tokens 50]
        [--admin-url postgres://postgres@127.0.0.1:5432/postgres] [--output benchmarks/results/postgres_load.json]

For each path: a fresh database, the simulator, ``--processes`` servers of one process each with a psycopg pool
of ``--pool-size``, then ``--streams`` users at once, split evenly over the processes
(``llm_app.bench.postgres_load``). Prints the connections PostgreSQL counted before, at the peak and after, the
LLM calls in flight at the peak, and what the users saw; writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from llm_app.bench.postgres_load import ADMIN_URL, measure  # noqa: E402
from llm_app.bench.scenarios import LLMTiming  # noqa: E402
from longrun.loadgen.runner import raise_nofile_limit  # noqa: E402


def _states(states: dict[str, int]) -> str:
    return ", ".join(f"{count} {state}" for state, count in sorted(states.items())) or "none"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--paths", default="async,websocket")
    parser.add_argument("--server", default="uvicorn")
    parser.add_argument("--ttft-ms", type=int, default=200)
    parser.add_argument("--token-ms", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--admin-url", default=os.environ.get("LONGRUN_BENCH_POSTGRES_URL", ADMIN_URL))
    parser.add_argument("--output", default="benchmarks/results/postgres_load.json")
    args = parser.parse_args()
    raise_nofile_limit(4 * args.streams + 1024)
    timing = LLMTiming(ttft_ms=args.ttft_ms, token_ms=args.token_ms, tokens=args.tokens)

    runs = []
    for path in args.paths.split(","):
        run = measure(
            streams=args.streams,
            processes=args.processes,
            pool_size=args.pool_size,
            path=path,
            server=args.server,
            timing=timing,
            admin_url=args.admin_url,
        )
        runs.append(run.as_dict())
        print(
            f"{run.server} x{run.processes} {run.path}: {run.completed}/{run.streams} streams completed, "
            f"errors {run.errors or 0}; LLM calls in flight at the peak {run.llm_in_flight_peak}; "
            f"PostgreSQL connections before: {_states(run.connections_before)}; peak {run.connections_peak} "
            f"({_states(run.connections_peak_by_state)}) of a pool budget of {run.pool_budget}; "
            f"after: {_states(run.connections_after)}; TTFT p50 {run.ttft_p50_s:.3f}s p99 {run.ttft_p99_s:.3f}s, "
            f"end p99 {run.total_p99_s:.3f}s for a {run.llm_seconds:g}s LLM call; {run.activity_samples} samples"
        )
    output = ROOT / args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    command = ".venv/bin/python benchmarks/postgres_load.py " + shlex.join(sys.argv[1:])
    report = {
        "command": command.strip(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "runs": runs,
    }
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Wrote {output}")


if __name__ == "__main__":
    main()
