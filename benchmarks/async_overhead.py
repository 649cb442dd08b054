"""Before and after: the async path under Django's own handler and middleware, under longrun's, and the floor.

    .venv/bin/python benchmarks/async_overhead.py [--users 1000] [--llm-s 10] [--path complete] [--server uvicorn]

One burst of ``--users`` users against each variant, after a discarded warm-up burst, the LLM answering each call
in ``--llm-s`` seconds. Variants, all on the same server: Django's ``get_asgi_application()`` with Django's own
middleware (benchmarks/stock_asgi.py, settings_stock.py: what a project has after "switch the server"); the
project as it ships (longrun's handler and middleware, ``project.asgi``); the floor, a bare ASGI app with no
Django making the same SDK call (``llm_app/bench/floor.py``). Prints efficiency, server CPU per request, peak
threads, RSS per in-flight request and errors, with the load average when each burst began: CPU per request,
threads and memory are robust to other work on the machine, efficiency is not.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from llm_app.bench.orchestrate import measure, server_env  # noqa: E402
from llm_app.bench.scenarios import FLOOR_APP, SERVERS, LLMTiming, Scenario, Target  # noqa: E402
from llm_app.server_env import migrate  # noqa: E402
from llm_app.servers import running_server  # noqa: E402
from longrun.simulator import SimulatorConfig, SimulatorProcess  # noqa: E402

# (label, ASGI application, settings module); None: the project's own application and settings.
VARIANTS = [
    ("stock Django: Django's handler and middleware", "stock_asgi:application", "settings_stock"),
    ("longrun: the project's handler and middleware", None, None),
    ("floor: bare ASGI + SDK, no Django", FLOOR_APP, None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--llm-s", type=float, default=10.0, help="seconds each LLM call takes")
    parser.add_argument("--path", default="complete", choices=["complete", "async"])
    parser.add_argument("--server", default="uvicorn", choices=["uvicorn", "daphne", "granian"])
    parser.add_argument("--output", help="a JSON file for every figure")
    args = parser.parse_args()
    # complete: the whole reply after llm_s; async (streamed): 50 tokens spread over llm_s.
    token_ms = 0 if args.path == "complete" else int(args.llm_s * 1000 / 50)
    timing = LLMTiming(ttft_ms=int(args.llm_s * 1000) if args.path == "complete" else 0, token_ms=token_ms)
    scenario = Scenario(concurrency=(args.users,), timing=timing)
    rows = []
    config = SimulatorConfig(ttft_ms=timing.ttft_ms, token_ms=timing.token_ms, tokens=timing.tokens)
    with tempfile.TemporaryDirectory() as tmp, SimulatorProcess(config) as simulator:
        workspace = Path(tmp)
        (workspace / "static").mkdir()
        for label, app, settings_module in VARIANTS:
            env = server_env(workspace, simulator.base_url, users=args.users)
            if settings_module:
                env["DJANGO_SETTINGS_MODULE"] = settings_module
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT)])
            migrate(env)
            server = SERVERS["floor" if app == FLOOR_APP else args.server]
            # Django's own handler refuses the lifespan protocol.
            with running_server(server, env=env, cwd=ROOT, app=app, lifespan=app != "stock_asgi:application") as (
                base,
                process,
            ):
                target = Target(server.name, args.path)
                warm = Scenario(concurrency=(min(args.users, 100),), timing=LLMTiming(ttft_ms=200, token_ms=0))
                measure(target, base, process.pid, simulator, min(args.users, 100), warm)
                result = measure(target, base, process.pid, simulator, args.users, scenario)
            rows.append((label, result))
    print(f"{'variant':48} {'eff':>5} {'CPU ms/req':>10} {'threads':>7} {'KiB/req':>7} {'errors':>6} {'load':>5}")
    for label, r in rows:
        f, s = r.figures, r.server_stats
        errors = sum(f["errors"].values())
        print(
            f"{label:48} {f['efficiency']:5.2f} {r.cpu_ms_per_request or 0:10.2f} {s['peak_threads']:7d} "
            f"{r.rss_per_inflight_kib:7.0f} {errors:6d} {r.load_average[0]:5.1f}"
        )
    if args.output:
        from dataclasses import asdict

        Path(args.output).write_text(json.dumps([{"variant": label, **asdict(r)} for label, r in rows], indent=2))


if __name__ == "__main__":
    main()
