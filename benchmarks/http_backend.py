"""The async OpenAI client's HTTP transport, aiohttp vs httpx(2), on this machine (a plain script, not a test).

Starts the LLM simulator as a child process, then for each backend and each concurrency N runs a fresh worker
process (this script again, with ``--worker BACKEND N``; the code is ``http_backend_worker.py``) so that each
measurement's CPU is its own. The worker builds ONE ``AsyncOpenAI`` client the way
``llm_app/services/clients.py`` does (``DefaultAioHttpClient`` or ``DefaultAsyncHttpxClient``,
``httpx2.Limits(max_connections=P, max_keepalive_connections=P)`` with P = N unless ``--pool`` says otherwise),
releases N users at once through the load generator, each streaming ``--rounds`` chat completions in turn
through it (every chunk read), and reports completions, errors, wall time, efficiency (ideal / wall, ideal =
rounds x (TTFT + tokens x token delay)), its own CPU, peak RSS, and the simulator's CPU over the same window.
``--profile`` runs cProfile in the worker and prints where the time went. All traffic is on loopback; every run
is bounded by ``--run-timeout``.

    .venv/bin/python benchmarks/http_backend.py --concurrency 100,500,1000,2000
    .venv/bin/python benchmarks/http_backend.py --backends httpx --concurrency 1000 --profile
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from http_backend_worker import RESULT_MARKER, worker_main  # noqa: E402 (this script's directory)

from longrun.loadgen import raise_nofile_limit  # noqa: E402

BACKENDS = ("aiohttp", "httpx")
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "http_backend.json"


# --- parent: the simulator, the workers, the table -------------------------------------------------------------


def settled_stats(simulator: Any, before: dict[str, int]) -> dict[str, int]:
    """The simulator's counters over one worker, once no request is active (the client may close late)."""
    stats = simulator.settled_stats(timeout=5)
    gauges = {"active", "peak_active"}  # read as they are; the other counters only grow, so the run is the difference
    return {key: stats[key] if key in gauges else stats[key] - before.get(key, 0) for key in stats}


def run_one(args: argparse.Namespace, backend: str, n: int, simulator: Any) -> dict[str, Any]:
    """One (backend, concurrency) in a worker process: its result, or a row saying how it failed."""
    command = [
        sys.executable, str(Path(__file__).resolve()), "--worker", backend, str(n),
        "--base-url", simulator.base_url, "--sim-pid", str(simulator.pid), "--rounds", str(args.rounds),
        "--ttft-ms", str(args.ttft_ms), "--token-ms", str(args.token_ms), "--tokens", str(args.tokens),
        "--timeout", str(args.timeout), "--max-retries", str(args.max_retries), "--model", args.model,
        "--run-timeout", str(args.run_timeout),
    ]  # fmt: skip
    if args.pool is not None:
        command += ["--pool", str(args.pool)]
    if args.profile:
        command.append("--profile")
    if not args.warmup:
        command.append("--no-warmup")
    stats_before = simulator.stats()
    busy_before = wait_for_quiet(args.quiet_below, args.quiet_wait)
    failure = ""
    try:
        # The worker bounds its streams at --run-timeout; this bounds imports, start-up and close as well.
        proc = subprocess.run(command, capture_output=True, text=True, timeout=args.run_timeout + 60)
    except subprocess.TimeoutExpired:
        proc, failure = None, f"worker killed after {args.run_timeout + 60:.0f} s"
    result: dict[str, Any] | None = None
    if proc is not None:
        for line in proc.stdout.splitlines():
            if line.startswith(RESULT_MARKER):
                result = json.loads(line.removeprefix(RESULT_MARKER))
            elif args.profile:
                print(line)
        if result is None:
            tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
            failure = f"worker exited {proc.returncode}: {tail}"
    if result is None:
        result = {
            "backend": backend,
            "concurrency": n,
            "pool": args.pool or n,
            "rounds": args.rounds,
            "failed": failure,
        }
    result["simulator_stats"] = settled_stats(simulator, stats_before)
    result["machine_busy_before_pct"] = busy_before
    return result


def wait_for_quiet(threshold_pct: float, max_wait_s: float) -> float:
    """Waits (bounded) until others leave the CPUs mostly idle: before each worker, on a shared machine.

    Returns the last 1-second machine-wide busy figure, in % of all cores; 0 disables the wait.
    """
    import psutil

    deadline = time.monotonic() + max_wait_s
    busy = psutil.cpu_percent(interval=1.0)
    while threshold_pct and busy > threshold_pct and time.monotonic() < deadline:
        busy = psutil.cpu_percent(interval=1.0)
    return float(busy)


def fmt(value: Any, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


COLUMNS = (
    ("backend", "backend", ""),
    ("N", "concurrency", ""),
    ("pool", "pool", ""),
    ("done", "completed", ""),
    ("err", "errors", ""),
    ("wall s", "wall_s", ".2f"),
    ("eff %", "efficiency_pct", ".0f"),
    ("client CPU s", "client_cpu_s", ".2f"),
    ("CPU % core", "client_cpu_pct", ".0f"),
    ("CPU ms/req", "cpu_ms_per_request", ".2f"),
    ("peak RSS MiB", "peak_rss_mib", ".0f"),
    ("sim CPU s (%)", "sim", ""),
    ("others % core", "others_cpu_pct", ".0f"),
    ("runq wait s", "client_runqueue_wait_s", ".1f"),
    ("TTFT p50/max ms", "ttft", ""),
)


def row_values(result: dict[str, Any]) -> list[str]:
    """A result's cells in the table."""
    if "failed" in result:
        return [result["backend"], str(result["concurrency"]), str(result["pool"]), "-", "-", result["failed"][:60]] + [
            "-"
        ] * (len(COLUMNS) - 6)
    derived = {
        **result,
        "efficiency_pct": 100 * result["efficiency"],
        "sim": f"{fmt(result['sim_cpu_s'], '.2f')} ({fmt(result['sim_cpu_pct'], '.0f')} %)",
        "ttft": f"{fmt(result['ttft_p50_ms'], '.0f')}/{fmt(result['ttft_max_ms'], '.0f')}",
        "completed": f"{result['completed']}/{result['requests']}",
    }
    return [fmt(derived[key], spec) for _title, key, spec in COLUMNS]


def median_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (backend, N, pool) with the median of each figure, errors summed (for --repeat > 1)."""
    groups: dict[tuple[str, int, int], list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        if "failed" not in result:
            groups[(result["backend"], result["concurrency"], result["pool"])].append(result)
    rows = []
    for (backend, n, pool), group in groups.items():
        row: dict[str, Any] = {"backend": backend, "concurrency": n, "pool": pool, "runs": len(group)}
        for key in ("wall_s", "efficiency", "client_cpu_s", "client_cpu_pct", "cpu_ms_per_request", "peak_rss_mib",
                    "sim_cpu_s", "sim_cpu_pct", "others_cpu_pct", "client_runqueue_wait_s", "ttft_p50_ms",
                    "ttft_max_ms"):  # fmt: skip
            values = [r[key] for r in group if r.get(key) is not None]
            row[key] = statistics.median(values) if values else None
        row["requests"] = sum(r["requests"] for r in group)
        row["completed"] = sum(r["completed"] for r in group)
        row["errors"] = sum(r["errors"] for r in group)
        rows.append(row)
    return rows


def print_table(title: str, results: list[dict[str, Any]], markdown: bool) -> None:
    """A rich table, and a Markdown one for the docs with --markdown."""
    rows = [row_values(r) for r in results]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        print("  ".join(title for title, _key, _spec in COLUMNS))
        for row in rows:
            print("  ".join(row))
    else:
        table = Table(title=title)
        for column, _key, _spec in COLUMNS:
            table.add_column(column, justify="left" if column == "backend" else "right")
        for row in rows:
            table.add_row(*row)
        Console(width=200).print(table)
    if markdown:
        print()
        print("| " + " | ".join(title for title, _key, _spec in COLUMNS) + " |")
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(COLUMNS))) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print()


def environment() -> dict[str, Any]:
    """What the figures were measured on."""
    import psutil

    versions = {}
    for name in ("openai", "aiohttp", "httpx2", "httpcore2", "psutil"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "cores": psutil.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "versions": versions,
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "argv": sys.argv,
    }


def parent_main(args: argparse.Namespace) -> int:
    """The script: the simulator, then one worker per (repeat, concurrency, backend)."""
    from longrun.simulator import SimulatorConfig, SimulatorProcess

    # Before the simulator starts, so that it and the workers inherit it: each stream holds a socket on both sides.
    raise_nofile_limit(2 * max(int(c) for c in args.concurrency.split(",") if c.strip()) + 256)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # unwinds through the `with` below, which stops the simulator

    signal.signal(signal.SIGTERM, on_sigterm)
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for backend in backends:
        if backend not in BACKENDS:
            raise SystemExit(f"unknown backend {backend!r}: use {', '.join(BACKENDS)}")
    env = environment()
    ideal = args.rounds * (args.ttft_ms + args.tokens * args.token_ms) / 1000
    print(
        f"{env['cores']} cores, Python {env['python']}, {env['versions']}; "
        f"{args.tokens} tokens, TTFT {args.ttft_ms:g} ms, token {args.token_ms:g} ms,"
        f" {args.rounds} round(s): ideal {ideal:.2f} s"
    )
    results: list[dict[str, Any]] = []
    interrupted = False
    try:
        with SimulatorProcess(
            SimulatorConfig(ttft_ms=args.ttft_ms, token_ms=args.token_ms, tokens=args.tokens)
        ) as simulator:
            print(f"simulator pid {simulator.pid} at {simulator.base_url}")
            for repeat in range(args.repeat):
                for n in concurrencies:
                    for backend in backends:
                        result = run_one(args, backend, n, simulator)
                        result["repeat"] = repeat + 1
                        results.append(result)
                        columns = zip(COLUMNS, row_values(result), strict=True)
                        line = "  ".join(f"{title}={value}" for (title, _k, _s), value in columns)
                        if result.get("errors"):
                            line += f"  errors: {result.get('error_kinds')}"
                        print(f"[{repeat + 1}/{args.repeat}] {line}", flush=True)
                        time.sleep(args.pause)
    except KeyboardInterrupt:
        interrupted = True
        print("interrupted: the simulator is stopped; partial results follow", file=sys.stderr)
    finally:
        if args.json:
            path = Path(args.json)
            path.parent.mkdir(parents=True, exist_ok=True)
            summary = median_rows(results) if args.repeat > 1 else []
            path.write_text(
                json.dumps(
                    {
                        "environment": env,
                        "args": vars(args),
                        "interrupted": interrupted,
                        "results": results,
                        "medians": summary,
                    },
                    indent=2,
                )
                + "\n"  # fmt: skip
            )
    print_table("HTTP backend: every run", results, args.markdown)
    if args.repeat > 1:
        print_table(
            f"HTTP backend: medians of {args.repeat} runs (done and err summed)", median_rows(results), args.markdown
        )
    if args.json:
        print(f"JSON written to {args.json}")
    failed = interrupted or any("failed" in r or r.get("errors") for r in results)
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="100,500,1000,2000", help="comma-separated N (default %(default)s)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated (default %(default)s)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="rounds of N streams through one client (2 reuses the pool)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="run the whole matrix this many times; prints medians")
    parser.add_argument("--no-warmup", dest="warmup", action="store_false", help="skip the one untimed warm-up request")
    parser.add_argument("--pool", type=int, default=None, help="max_connections (default: N, a pool sized for N)")
    parser.add_argument("--profile", action="store_true", help="cProfile each worker; prints top functions")
    parser.add_argument(
        "--json", default=str(DEFAULT_JSON), help="where to write results (default %(default)s; '' for none)"
    )
    parser.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    parser.add_argument("--ttft-ms", type=float, default=200.0)
    parser.add_argument("--token-ms", type=float, default=40.0)
    parser.add_argument("--tokens", type=int, default=50)
    parser.add_argument("--model", default="longrun-simulator")
    parser.add_argument("--timeout", type=float, default=60.0, help="client read timeout, as LLM_TIMEOUT (default 60)")
    parser.add_argument(
        "--max-retries", type=int, default=0, help="SDK retries (default 0: errors are counted, not hidden)"
    )
    parser.add_argument("--run-timeout", type=float, default=180.0, help="bound on one worker's streams, in s")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between workers")
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=35.0,
        help="before each worker, wait until the machine is less busy than this %% of all cores (0: don't)",
    )
    parser.add_argument("--quiet-wait", type=float, default=30.0, help="longest such wait, in s (default %(default)s)")
    parser.add_argument("--worker", nargs=2, metavar=("BACKEND", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--sim-pid", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker_main(args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
