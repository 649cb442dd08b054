"""Time to first token on each path through real servers, one request at a time.

    .venv/bin/python benchmarks/first_token.py [--runs 10] [--servers daphne,gunicorn]

Starts the simulator (TTFT 200 ms, 40 ms per token, 50 tokens) and each server in turn on free ports, sends
``--runs`` sequential streamed requests per path, and prints the median and max client-side time to the
first token and to the end. A buffered stream would show its first token at about the end (2.2 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from llm_app.bench.orchestrate import server_env  # noqa: E402
from llm_app.servers import SERVERS, running_server  # noqa: E402
from longrun.simulator import SimulatorConfig, SimulatorProcess  # noqa: E402

PATHS = {"wsgi": ["/api/sync/stream"], "asgi": ["/api/sync/stream", "/api/async/stream", "websocket"]}


async def sse_once(url: str) -> tuple[float, float]:
    start = time.perf_counter()
    first = None
    async with aiohttp.ClientSession() as session, session.post(url, json={"prompt": "Measure me"}) as reply:
        async for line in reply.content:
            if first is None and line.startswith(b"event: token"):
                first = time.perf_counter() - start
    assert first is not None
    return first, time.perf_counter() - start


async def ws_once(base: str) -> tuple[float, float]:
    start = time.perf_counter()
    first = None
    async with websockets.connect(base.replace("http", "ws") + "/ws/chat/", origin=base) as ws:
        await ws.send(json.dumps({"type": "prompt", "id": "1", "prompt": "Measure me"}))
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "token" and first is None:
                first = time.perf_counter() - start
            if message["type"] in {"done", "error"}:
                break
    assert first is not None
    return first, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--servers", default="daphne,gunicorn")
    args = parser.parse_args()

    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="first-token-") as tmp,
        SimulatorProcess(SimulatorConfig(ttft_ms=200, token_ms=40, tokens=50)) as simulator,
    ):
        workspace = Path(tmp)
        (workspace / "static").mkdir()
        env = server_env(workspace, simulator.base_url)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
        for name in args.servers.split(","):
            with running_server(name, env=env, cwd=ROOT) as (base, _process):
                for path in PATHS[SERVERS[name].interface]:
                    once = (lambda: ws_once(base)) if path == "websocket" else (lambda p=path: sse_once(base + p))
                    asyncio.run(once())  # warm-up: imports, first connection, SQLite file
                    samples = [asyncio.run(once()) for _ in range(args.runs)]
                    firsts = [s[0] * 1000 for s in samples]
                    ends = [s[1] * 1000 for s in samples]
                    rows.append((name, path, statistics.median(firsts), max(firsts), statistics.median(ends)))
    print(f"{'server':10} {'path':20} {'TTFT p50 ms':>12} {'TTFT max ms':>12} {'end p50 ms':>11}")
    for name, path, p50, worst, end in rows:
        print(f"{name:10} {path:20} {p50:12.1f} {worst:12.1f} {end:11.1f}")


if __name__ == "__main__":
    main()
