"""Where the async path's time goes: the same 32-user burst against variants that each remove one cost.

    .venv/bin/python benchmarks/async_overhead.py [--bursts 7] [--users 32]

Variants, all under daphne except the floor: the async stream view with the stock middleware; the same with
MIDDLEWARE emptied (settings_no_middleware.py); the WebSocket consumer (no HTTP middleware, one socket per
user); and the floor, a bare ASGI app with no Django making the same SDK call (llm_app/bench/floor.py, under
uvicorn). The LLM: TTFT 200 ms, 40 ms a token, 50 tokens (2.2 s). Each variant gets one discarded warm-up
burst, then --bursts measured bursts; the medians are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from llm_app.bench.orchestrate import server_env  # noqa: E402
from llm_app.bench.scenarios import FLOOR_APP, SERVERS  # noqa: E402
from llm_app.servers import running_server  # noqa: E402
from longrun.loadgen.figures import summarize  # noqa: E402
from longrun.loadgen.runner import run_load  # noqa: E402
from longrun.simulator import SimulatorConfig, SimulatorProcess  # noqa: E402

VARIANTS = [
    ("async view, stock middleware", "daphne", "project.settings", "sse", "/api/async/stream"),
    ("async view, no middleware", "daphne", "settings_no_middleware", "sse", "/api/async/stream"),
    ("sync view via bridge, stock middleware", "daphne", "project.settings", "sse", "/api/sync/stream"),
    ("websocket consumer", "daphne", "project.settings", "websocket", "/ws/chat/"),
    ("floor: bare ASGI + SDK, no Django", "floor", "project.settings", "sse", "/api/async/stream"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=7)
    parser.add_argument("--users", type=int, default=32)
    args = parser.parse_args()
    llm_seconds = 2.2
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        SimulatorProcess(SimulatorConfig(ttft_ms=200, token_ms=40, tokens=50)) as simulator,
    ):
        workspace = Path(tmp)
        (workspace / "static").mkdir()
        for label, server, settings_module, kind, path in VARIANTS:
            env = server_env(workspace, simulator.base_url)
            env["DJANGO_SETTINGS_MODULE"] = settings_module
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT)])
            subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
            app = FLOOR_APP if server == "floor" else None
            with running_server(SERVERS[server], env=env, cwd=ROOT, app=app) as (base, _process):
                url = (base.replace("http", "ws", 1) if kind == "websocket" else base) + path

                def burst(kind: str = kind, url: str = url) -> object:
                    return asyncio.run(
                        run_load(
                            kind=kind,
                            url=url,
                            concurrency=args.users,
                            payload_factory=lambda u, r: {"prompt": f"user {u}"},
                            origin=base,
                        )  # type: ignore[arg-type]
                    )

                burst()
                summaries = [summarize(burst(), llm_seconds_per_request=llm_seconds) for _ in range(args.bursts)]  # type: ignore[arg-type]
            rows.append(
                (
                    label,
                    statistics.median(s.efficiency for s in summaries),
                    statistics.median(s.ttft_p50_s or 0 for s in summaries) * 1000,
                    statistics.median(s.last_user_wait_s or 0 for s in summaries),
                    sum(s.error_count for s in summaries),
                )
            )
    print(f"{'variant':42} {'efficiency':>10} {'TTFT p50 ms':>12} {'last user s':>12} {'errors':>7}")
    for label, efficiency, ttft, last, errors in rows:
        print(f"{label:42} {efficiency:10.3f} {ttft:12.0f} {last:12.2f} {errors:7d}")


if __name__ == "__main__":
    main()
