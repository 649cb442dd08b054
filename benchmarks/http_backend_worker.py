"""The worker of ``benchmarks/http_backend.py``: one backend, one concurrency, in a process of its own.

``http_backend.py --worker BACKEND N`` runs ``worker_main``: it builds ONE ``AsyncOpenAI`` client the way
``llm_app/services/clients.py`` does, releases N users at once through the load generator
(``longrun.loadgen.run_users``), each streaming ``--rounds`` chat completions in turn through that client (every
chunk read), and prints its figures as one marked JSON line for the parent: completions, errors by kind, wall
time, efficiency, its own CPU, peak RSS, the simulator's CPU over the same window (``ProcessTreeSampler`` on its
pid), and with ``--profile`` where the CPU went (cProfile).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import resource
import statistics
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from longrun.loadgen import RequestResult, percentile, run_users
from longrun.loadgen.procstats import ProcessTreeSampler

RESULT_MARKER = "@@HTTP_BACKEND_RESULT@@ "
PROMPT = [{"role": "user", "content": "Benchmark the HTTP transport with a steady stream of tokens."}]
# Above this many functions a profile listing says nothing more.
PROFILE_TOP = 15


def build_client(backend: str, base_url: str, pool: int, timeout: float, max_retries: int) -> Any:
    """The async client exactly as ``llm_app/services/clients.py`` builds it (one per worker)."""
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


async def sdk_stream(client: Any, model: str, tokens: int, deadline: float) -> RequestResult:
    """One streamed completion, every chunk read as ``llm.astream`` does, as the load generator records a request.

    It counts as done only with all ``tokens`` tokens, ``finish_reason == "stop"`` and a usage chunk; a stream
    that ends short is ``incomplete``, an SDK exception its class name (``APITimeoutError``, ...).
    """
    started = time.perf_counter()
    first: float | None = None
    seen, finish, usage = 0, None, False
    error: str | None = None
    try:
        async with asyncio.timeout_at(deadline):
            stream = await client.chat.completions.create(
                model=model, messages=PROMPT, stream=True, stream_options={"include_usage": True}
            )
            async with stream:
                async for chunk in stream:
                    usage = usage or chunk.usage is not None
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    if choice.delta.content:
                        first = first or time.perf_counter()
                        seen += 1
                    finish = choice.finish_reason or finish
    except Exception as exc:  # noqa: BLE001 (every failure is a counted error, whatever its kind)
        error = type(exc).__name__
    if error is None and not (seen == tokens and finish == "stop" and usage):
        error = "incomplete"
    return RequestResult(
        kind="sse",
        ok=error is None,
        error=error,
        status=200 if seen else None,
        started=started,
        ttft_s=None if first is None else first - started,
        total_s=time.perf_counter() - started,
        tokens=seen,
    )


def run_queue_wait_s() -> float | None:
    """How long this (single-threaded) process has waited for a core so far, from schedstat.

    The machine may be shared: time spent runnable but not running is the CPU contention this process felt.
    """
    try:
        return int(Path("/proc/self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def machine_busy_s(times: Any) -> float:
    """Core-seconds the whole machine spent not idle, from ``psutil.cpu_times()``."""
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def package_of(filename: str, funcname: str) -> str:
    """The package a profiled function belongs to, to say where the CPU went."""
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
    """Prints a profiled run's top functions and the share per package; returns them for JSON."""
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
    """The worker process: one client, N users released at once for ``--rounds`` streams each; the measurement."""
    import psutil  # type: ignore[import-untyped]

    backend, n = args.worker[0], int(args.worker[1])
    pool = n if args.pool is None else args.pool
    client = build_client(backend, args.base_url, pool, args.timeout, args.max_retries)
    profiler = cProfile.Profile() if args.profile else None
    deadline = asyncio.get_running_loop().time() + args.run_timeout

    async def stream(user: int, index: int) -> RequestResult:
        return await sdk_stream(client, args.model, args.tokens, deadline)

    try:
        if args.warmup:
            # One request first, outside the window: the SDK's lazy imports and first-use set-up are a one-off
            # cost a running server has already paid; it also leaves one keep-alive connection in the pool.
            warm = await stream(0, 0)
            if not warm.ok:
                raise RuntimeError(f"warm-up request failed: {warm.error}")
        rss_before = psutil.Process().memory_info().rss
        machine_before = psutil.cpu_times()
        wait_before = run_queue_wait_s()
        with ProcessTreeSampler(args.sim_pid) as simulator:
            if profiler:
                profiler.enable()
            burst = await run_users(concurrency=n, request=stream, requests_per_user=args.rounds)
            if profiler:
                profiler.disable()
        wait_after = run_queue_wait_s()
        machine_after = psutil.cpu_times()
    finally:
        await client.close()

    wall, cpu = burst.wall_end - burst.wall_start, burst.client_cpu
    sim_cpu = simulator.result.cpu_s if simulator.result else None
    ideal = args.rounds * (args.ttft_ms + args.tokens * args.token_ms) / 1000
    machine = machine_busy_s(machine_after) - machine_busy_s(machine_before)
    others = machine - cpu.seconds - (sim_cpu or 0.0)
    wait = wait_after - wait_before if wait_after is not None and wait_before is not None else None
    results = burst.results
    completed = sum(r.ok for r in results)
    errors = Counter(r.error for r in results if r.error)
    ttfts = [r.ttft_s for r in results if r.ttft_s is not None]
    totals = [r.total_s for r in results if r.ok]
    out: dict[str, Any] = {
        "backend": backend,
        "concurrency": n,
        "pool": pool,
        "rounds": args.rounds,
        "requests": len(results),
        "completed": completed,
        "errors": len(results) - completed,
        "error_kinds": dict(errors.most_common(5)),
        "wall_s": round(wall, 3),
        "ideal_s": round(ideal, 3),
        "efficiency": round(ideal / wall, 4),
        "client_cpu_s": round(cpu.seconds, 3),
        "client_user_s": round(cpu.user_s, 3),
        "client_sys_s": round(cpu.system_s, 3),
        "client_cpu_pct": round(cpu.percent, 1),
        "cpu_ms_per_request": round(1000 * cpu.seconds / len(results), 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),  # KiB on Linux
        "rss_before_run_mib": round(rss_before / 2**20, 1),
        "sim_cpu_s": round(sim_cpu, 3) if sim_cpu is not None else None,
        "sim_cpu_pct": round(100 * sim_cpu / wall, 1) if sim_cpu is not None else None,
        # The rest of the machine over the same window (other processes on a shared box), in % of one core.
        "others_cpu_pct": round(100 * max(others, 0.0) / wall, 1),
        "machine_busy_pct": round(100 * machine / wall / (psutil.cpu_count() or 1), 1),
        # Client runnable but not running: with CPU + this close to the wall time, the client was CPU-bound.
        "client_runqueue_wait_s": round(wait, 3) if wait is not None else None,
        "ttft_p50_ms": _ms(percentile(ttfts, 50)),
        "ttft_max_ms": _ms(max(ttfts, default=None)),
        "duration_p50_s": round(statistics.median(totals), 3) if totals else None,
        "duration_max_s": round(max(totals), 3) if totals else None,
        "profiled": bool(profiler),
    }
    if profiler:
        out["profile"] = profile_report(profiler, cpu.seconds)
    return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 1)


def worker_main(args: argparse.Namespace) -> int:
    """The script as ``--worker BACKEND N``: prints the result as one marked JSON line."""
    result = asyncio.run(run_worker(args))
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0
