"""The async OpenAI client's HTTP transport, aiohttp vs httpx(2), on this machine (a plain script, not a test).

Starts the LLM simulator as a child process, then for each backend and each concurrency N runs a fresh worker
process (this script again, with ``--worker BACKEND N``) so that each measurement's CPU is its own. The worker
builds ONE ``AsyncOpenAI`` client the way ``llm_app/services/clients.py`` does (``DefaultAioHttpClient`` or
``DefaultAsyncHttpxClient``, ``httpx2.Limits(max_connections=P, max_keepalive_connections=P)`` with P = N unless
``--pool`` says otherwise), runs N concurrent streamed chat completions through it (every chunk read), for
``--rounds`` rounds, and reports completions, errors, wall time, efficiency (ideal / wall, ideal = rounds x
(TTFT + tokens x token delay)), its own CPU (user+sys from getrusage), peak RSS, and the simulator's CPU over
the same window (psutil on its pid). ``--profile`` runs cProfile in the worker and prints where the time went.
All traffic is on loopback; every run is bounded by ``--run-timeout``.

    .venv/bin/python benchmarks/http_backend.py --concurrency 100,500,1000,2000
    .venv/bin/python benchmarks/http_backend.py --backends httpx --concurrency 1000 --profile
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import platform
import pstats
import resource
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BACKENDS = ("aiohttp", "httpx")
RESULT_MARKER = "@@HTTP_BACKEND_RESULT@@ "
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "http_backend.json"
PROMPT = [{"role": "user", "content": "Benchmark the HTTP transport with a steady stream of tokens."}]
# Above this many functions a profile listing says nothing more.
PROFILE_TOP = 15


# --- worker: one backend, one concurrency, one process --------------------------------------------------------


@dataclass
class StreamResult:
    """What one streamed completion saw."""

    tokens: int = 0
    finish_reason: str | None = None
    usage_seen: bool = False
    ttft_s: float = 0.0
    total_s: float = 0.0
    error: str = ""


def build_client(backend: str, base_url: str, pool: int, timeout: float, max_retries: int) -> Any:
    """Called once per worker: the async client exactly as ``clients._build_async_client`` builds it."""
    import httpx2
    from openai import AsyncOpenAI, DefaultAioHttpClient, DefaultAsyncHttpxClient

    timeouts = httpx2.Timeout(timeout, connect=min(timeout, 10.0))
    limits = httpx2.Limits(max_connections=pool, max_keepalive_connections=pool)
    http_class = DefaultAioHttpClient if backend == "aiohttp" else DefaultAsyncHttpxClient
    return AsyncOpenAI(
        base_url=base_url,
        api_key="benchmark",
        timeout=timeouts,
        max_retries=max_retries,
        http_client=http_class(timeout=timeouts, limits=limits),
    )


async def one_stream(client: Any, model: str, deadline: float) -> StreamResult:
    """Called once per concurrent request: streams the whole reply, reading every chunk, like ``llm.astream``."""
    result = StreamResult()
    started = time.perf_counter()
    try:
        async with asyncio.timeout_at(deadline):
            stream = await client.chat.completions.create(
                model=model, messages=PROMPT, stream=True, stream_options={"include_usage": True}
            )
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        result.usage_seen = True
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    if choice.delta.content:
                        if result.tokens == 0:
                            result.ttft_s = time.perf_counter() - started
                        result.tokens += 1
                    if choice.finish_reason:
                        result.finish_reason = choice.finish_reason
    except Exception as exc:  # noqa: BLE001 (every failure is a counted error, whatever its kind)
        result.error = f"{type(exc).__name__}: {str(exc)[:160]}"
    result.total_s = time.perf_counter() - started
    return result


def cpu_seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def run_queue_wait_s() -> float | None:
    """Called around the window: how long this (single-threaded) process waited for a core, from schedstat.

    The machine may be shared: time spent runnable but not running is the CPU contention this process felt.
    """
    try:
        return int(Path("/proc/self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def machine_busy_s(times: Any) -> float:
    """Called on psutil.cpu_times(): core-seconds the whole machine spent not idle."""
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def package_of(filename: str, funcname: str) -> str:
    """Called per profiled function: the package it belongs to, to say where the CPU went."""
    if filename == "~":
        return "built-in (C: json, sockets, selectors, ...)"
    path = filename.replace("\\", "/")
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/benchmarks/" in path:
        return "benchmark script"
    stdlib = path.rsplit("/lib/python", 1)
    if len(stdlib) == 2:
        parts = stdlib[1].split("/")
        return "stdlib " + (parts[1].removesuffix(".py") if len(parts) > 1 else "?")
    return path


def profile_report(profiler: cProfile.Profile, total_cpu: float) -> dict[str, Any]:
    """Called after a profiled run: prints the top functions and the share per package; returns them for JSON."""
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.strip_dirs().sort_stats("cumulative").print_stats(PROFILE_TOP)
    cumulative_text = stream.getvalue()
    stream.truncate(0)
    stream.seek(0)
    stats.sort_stats("tottime").print_stats(PROFILE_TOP)
    tottime_text = stream.getvalue()

    raw = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    by_package: dict[str, float] = defaultdict(float)
    profiled_total = 0.0
    pool_functions: dict[str, dict[str, float]] = {}
    for (filename, _line, funcname), (_cc, ncalls, tottime, cumtime, _callers) in raw.items():
        by_package[package_of(filename, funcname)] += tottime
        profiled_total += tottime
        # The connection pools' own bookkeeping: httpcore2's pool and aiohttp's connector.
        if filename.endswith(("httpcore2/_async/connection_pool.py", "aiohttp/connector.py")):
            key = f"{Path(filename).parent.name}/{Path(filename).name}:{funcname}"
            pool_functions[key] = {"ncalls": ncalls, "tottime_s": round(tottime, 4), "cumtime_s": round(cumtime, 4)}
    shares = sorted(by_package.items(), key=lambda item: -item[1])
    pool_tottime = sum(f["tottime_s"] for f in pool_functions.values())

    print("=== cProfile: top functions by cumulative time ===")
    print(cumulative_text)
    print("=== cProfile: top functions by own (tottime) time ===")
    print(tottime_text)
    print(f"=== own time by package (profiled total {profiled_total:.2f} s; process CPU {total_cpu:.2f} s) ===")
    for name, seconds in shares[:12]:
        print(f"  {seconds:8.3f} s  {100 * seconds / profiled_total:5.1f} %  {name}")
    print("=== connection-pool bookkeeping (httpcore2 connection_pool.py / aiohttp connector.py) ===")
    for key, figures in sorted(pool_functions.items(), key=lambda item: -item[1]["cumtime_s"])[:10]:
        print(
            f"  calls {figures['ncalls']:>8}  own {figures['tottime_s']:8.3f} s"
            f"  cumulative {figures['cumtime_s']:8.3f} s  {key}"
        )
    print(
        f"  pool own time in total: {pool_tottime:.3f} s = {100 * pool_tottime / profiled_total:.1f} % of profiled time"
    )
    return {
        "profiled_total_s": round(profiled_total, 3),
        "by_package_s": {name: round(seconds, 3) for name, seconds in shares},
        "pool_functions": pool_functions,
        "pool_tottime_s": round(pool_tottime, 4),
        "pool_share": round(pool_tottime / profiled_total, 4) if profiled_total else 0.0,
        "top_cumulative": cumulative_text,
        "top_tottime": tottime_text,
    }


async def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    """Called in the worker process: one client, N concurrent streams per round; returns the measurement."""
    import psutil  # type: ignore[import-untyped]

    backend, n = args.worker[0], int(args.worker[1])
    pool = n if args.pool is None else args.pool
    simulator = psutil.Process(args.sim_pid) if args.sim_pid else None
    me = psutil.Process()
    client = build_client(backend, args.base_url, pool, args.timeout, args.max_retries)
    profiler = cProfile.Profile() if args.profile else None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + args.run_timeout
    results: list[StreamResult] = []
    round_walls: list[float] = []
    try:
        if args.warmup:
            # One request first, outside the window: the SDK's lazy imports and first-use set-up are a one-off
            # cost a running server has already paid; it also leaves one keep-alive connection in the pool.
            warm = await one_stream(client, args.model, deadline)
            if warm.error:
                raise RuntimeError(f"warm-up request failed: {warm.error}")
        rss_before = me.memory_info().rss
        sim_before = simulator.cpu_times() if simulator else None
        machine_before = psutil.cpu_times()
        wait_before = run_queue_wait_s()
        usage_before = resource.getrusage(resource.RUSAGE_SELF)
        wall_before = time.perf_counter()
        if profiler:
            profiler.enable()
        for _ in range(args.rounds):
            round_start = time.perf_counter()
            results += await asyncio.gather(*(one_stream(client, args.model, deadline) for _ in range(n)))
            round_walls.append(time.perf_counter() - round_start)
        if profiler:
            profiler.disable()
        wall = time.perf_counter() - wall_before
        usage_after = resource.getrusage(resource.RUSAGE_SELF)
        wait_after = run_queue_wait_s()
        machine_after = psutil.cpu_times()
        sim_after = simulator.cpu_times() if simulator else None
    finally:
        await client.close()

    cpu = cpu_seconds(usage_after) - cpu_seconds(usage_before)
    sim_cpu = None
    if sim_before is not None and sim_after is not None:
        sim_cpu = (sim_after.user + sim_after.system) - (sim_before.user + sim_before.system)
    ideal = args.rounds * (args.ttft_ms + args.tokens * args.token_ms) / 1000
    machine = machine_busy_s(machine_after) - machine_busy_s(machine_before)
    others = machine - cpu - (sim_cpu or 0.0)
    wait = wait_after - wait_before if wait_after is not None and wait_before is not None else None
    completed = 0
    errors: dict[str, int] = defaultdict(int)
    for r in results:
        if r.error:
            errors[r.error] += 1
        elif r.tokens == args.tokens and r.finish_reason == "stop" and r.usage_seen:
            completed += 1
        else:
            errors[f"incomplete: {r.tokens} tokens, finish {r.finish_reason}, usage {r.usage_seen}"] += 1
    ttfts = sorted(r.ttft_s for r in results if r.tokens)
    totals = sorted(r.total_s for r in results if not r.error)
    requests = len(results)
    out: dict[str, Any] = {
        "backend": backend,
        "concurrency": n,
        "pool": pool,
        "rounds": args.rounds,
        "requests": requests,
        "completed": completed,
        "errors": requests - completed,
        "error_kinds": dict(sorted(errors.items(), key=lambda item: -item[1])[:5]),
        "wall_s": round(wall, 3),
        "round_walls_s": [round(w, 3) for w in round_walls],
        "ideal_s": round(ideal, 3),
        "efficiency": round(ideal / wall, 4),
        "client_cpu_s": round(cpu, 3),
        "client_user_s": round(usage_after.ru_utime - usage_before.ru_utime, 3),
        "client_sys_s": round(usage_after.ru_stime - usage_before.ru_stime, 3),
        "client_cpu_pct": round(100 * cpu / wall, 1),
        "cpu_ms_per_request": round(1000 * cpu / requests, 3),
        "peak_rss_mib": round(usage_after.ru_maxrss / 1024, 1),  # ru_maxrss is in KiB on Linux
        "rss_before_run_mib": round(rss_before / 2**20, 1),
        "sim_cpu_s": round(sim_cpu, 3) if sim_cpu is not None else None,
        "sim_cpu_pct": round(100 * sim_cpu / wall, 1) if sim_cpu is not None else None,
        # The rest of the machine over the same window (other processes on a shared box), in % of one core.
        "others_cpu_pct": round(100 * max(others, 0.0) / wall, 1),
        "machine_busy_pct": round(100 * machine / wall / (psutil.cpu_count() or 1), 1),
        # Client runnable but not running: with CPU + this close to the wall time, the client was CPU-bound.
        "client_runqueue_wait_s": round(wait, 3) if wait is not None else None,
        "client_involuntary_switches": usage_after.ru_nivcsw - usage_before.ru_nivcsw,
        "ttft_p50_ms": round(1000 * statistics.median(ttfts), 1) if ttfts else None,
        "ttft_max_ms": round(1000 * ttfts[-1], 1) if ttfts else None,
        "duration_p50_s": round(statistics.median(totals), 3) if totals else None,
        "duration_max_s": round(totals[-1], 3) if totals else None,
        "profiled": bool(profiler),
    }
    if profiler:
        out["profile"] = profile_report(profiler, cpu)
    return out


def worker_main(args: argparse.Namespace) -> int:
    """Called when the script runs as ``--worker BACKEND N``: prints the result as one marked JSON line."""
    raise_nofile_limit()
    result = asyncio.run(run_worker(args))
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0


# --- parent: the simulator, the workers, the table -------------------------------------------------------------


def raise_nofile_limit() -> tuple[int, int]:
    """Called first: each stream holds a socket on both sides; the soft limit may be as low as 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = 65536 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def simulator_stats(base_url: str, reset: bool = False) -> dict[str, int]:
    """Called around each worker: the simulator's counters (``POST /stats/reset`` zeroes them first)."""
    root = base_url.removesuffix("/v1")
    request = urllib.request.Request(root + ("/stats/reset" if reset else "/stats"), method="POST" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        stats: dict[str, int] = json.loads(response.read())
    return stats


def settled_stats(base_url: str) -> dict[str, int]:
    """Called after a worker: the counters once no request is active any more (the client may close late)."""
    deadline = time.monotonic() + 5
    stats = simulator_stats(base_url)
    while stats.get("active") and time.monotonic() < deadline:
        time.sleep(0.1)
        stats = simulator_stats(base_url)
    return stats


def run_one(args: argparse.Namespace, backend: str, n: int, base_url: str, sim_pid: int) -> dict[str, Any]:
    """Called per (backend, concurrency): runs a worker process; its result, or a row saying how it failed."""
    command = [
        sys.executable, str(Path(__file__).resolve()), "--worker", backend, str(n),
        "--base-url", base_url, "--sim-pid", str(sim_pid), "--rounds", str(args.rounds),
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
    simulator_stats(base_url, reset=True)
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
    result["simulator_stats"] = settled_stats(base_url)
    result["machine_busy_before_pct"] = busy_before
    return result


def wait_for_quiet(threshold_pct: float, max_wait_s: float) -> float:
    """Called before each worker on a shared machine: waits (bounded) until others leave the CPUs mostly idle.

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
    """Called per result: the table's cells."""
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
    """Called with --repeat > 1: one row per (backend, N, pool) with the median of each figure, errors summed."""
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
    """Called at the end: a rich table, and a Markdown one for the docs with --markdown."""
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
    """Called once: what the figures were measured on."""
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
    """Called when run as a script: the simulator, then one worker per (repeat, concurrency, backend)."""
    from longrun.simulator import SimulatorConfig, SimulatorProcess

    raise_nofile_limit()  # before the simulator starts, so that it and the workers inherit it

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
                        result = run_one(args, backend, n, simulator.base_url, simulator.pid)
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
