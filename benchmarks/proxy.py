"""Time to first token with and without nginx in front: deploy/nginx/longrun.conf before two uvicorn processes.

    .venv/bin/python benchmarks/proxy.py [--runs 20] [--concurrency 200]

Starts the simulator (TTFT 200 ms, 40 ms per token, 50 tokens: 2.2 s a reply), two uvicorn processes on one
SQLite file, and Debian's nginx with the deployment guide's config in front of them (``longrun.proxy``). For
each streaming path it then measures, straight to the first process and through nginx:

* ``--runs`` sequential requests (after one warm-up): the median and worst time to the first token and to the end;
* one burst of ``--concurrency`` users at once, split evenly over the two processes straight or all sent to
  nginx (which spreads them): completed requests, and the p50/p99 time to the first token.

A proxy that buffered would show its first token at about the end (2.2 s). Prints a Markdown table for
docs/deployment.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from llm_app.server_env import migrated_sqlite_env  # noqa: E402
from llm_app.servers import running_server  # noqa: E402
from longrun.loadgen.clients import RequestResult, make_session, post_sse, websocket  # noqa: E402
from longrun.loadgen.runner import raise_nofile_limit, run_load  # noqa: E402
from longrun.proxy import running_nginx  # noqa: E402
from longrun.simulator import SimulatorConfig, SimulatorProcess  # noqa: E402

SITE = ROOT / "deploy" / "nginx" / "longrun.conf"
PATHS = ("/api/async/stream", "/api/sync/stream", "websocket")
PAYLOAD = {"prompt": "Measure me"}


async def once(base: str, path: str) -> RequestResult:
    if path == "websocket":
        return await websocket(base.replace("http", "ws", 1) + "/ws/chat/", base, PAYLOAD)
    async with make_session(1) as session:
        return await post_sse(session, base + path, PAYLOAD)


def sequential(base: str, path: str, runs: int) -> dict[str, float]:
    asyncio.run(once(base, path))  # warm-up: imports, the first connections, the SQLite file
    results = [asyncio.run(once(base, path)) for _ in range(runs)]
    failed = [r for r in results if not r.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} of {runs} requests to {base}{path} failed: {failed[0].error}")
    firsts = [(r.ttft_s or 0.0) * 1000 for r in results]
    return {
        "ttft_p50_ms": statistics.median(firsts),
        "ttft_max_ms": max(firsts),
        "end_p50_ms": statistics.median(r.total_s * 1000 for r in results),
    }


def burst(bases: list[str], path: str, users: int) -> dict[str, float]:
    """``users`` at once, split evenly over ``bases`` (both processes straight, or nginx alone)."""
    kind = "websocket" if path == "websocket" else "sse"

    async def load() -> list[RequestResult]:
        share, extra = divmod(users, len(bases))
        runs = await asyncio.gather(
            *(
                run_load(
                    kind=kind,
                    url=base.replace("http", "ws", 1) + "/ws/chat/" if kind == "websocket" else base + path,
                    concurrency=share + (1 if i < extra else 0),
                    payload_factory=lambda u, r: PAYLOAD,
                    origin=base,
                )
                for i, base in enumerate(bases)
            )
        )
        return [result for run in runs for result in run.results]

    firsts = sorted((r.ttft_s or 0.0) * 1000 for r in asyncio.run(load()) if r.ok)
    return {
        "completed": float(len(firsts)),
        "burst_ttft_p50_ms": statistics.median(firsts) if firsts else float("nan"),
        "burst_ttft_p99_ms": firsts[max(0, int(len(firsts) * 0.99) - 1)] if firsts else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    raise_nofile_limit(4 * args.concurrency + 1024)

    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="proxy-bench-") as tmp,
        SimulatorProcess(SimulatorConfig(ttft_ms=200, token_ms=40, tokens=50)) as simulator,
        ExitStack() as stack,
    ):
        env = migrated_sqlite_env(Path(tmp), llm_url=simulator.base_url, LLM_MAX_RETRIES="0")
        first, _ = stack.enter_context(running_server("uvicorn", env=env, cwd=ROOT))
        second, _ = stack.enter_context(running_server("uvicorn", env=env, cwd=ROOT))
        upstreams = [url.removeprefix("http://") for url in (first, second)]
        proxy = stack.enter_context(running_nginx(SITE, upstreams=upstreams))
        for path in PATHS:
            for via, base, spread in (("direct", first, [first, second]), ("nginx", proxy, [proxy])):
                row = {"path": path, "via": via, **sequential(base, path, args.runs)}
                row.update(burst(spread, path, args.concurrency))
                rows.append(row)
                print(row, file=sys.stderr)

    print(f"load average at the end: {[round(v, 2) for v in os.getloadavg()]}")
    print(
        f"| path | via | TTFT p50 ms | TTFT max ms | end p50 ms | {args.concurrency} at once: completed "
        "| TTFT p50 ms | TTFT p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['path']} | {r['via']} | {r['ttft_p50_ms']:.0f} | {r['ttft_max_ms']:.0f} | {r['end_p50_ms']:.0f} "
            f"| {r['completed']:.0f} | {r['burst_ttft_p50_ms']:.0f} | {r['burst_ttft_p99_ms']:.0f} |"
        )


if __name__ == "__main__":
    main()
