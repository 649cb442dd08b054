"""``manage.py soak --minutes N --streams M``: M concurrent streams with churn against a real server for N minutes.

Starts the simulator and the server (daphne by default) on a database of its own, runs the clients of
``llm_app.soak.churn`` (whole replies, hang-ups, stops, faults; every action a new connection), samples the
server every few seconds (RSS, threads, open descriptors, database connections, event-loop lag, asyncio tasks),
lets the load drain, checks the rows, and writes ``STEM.csv``, ``STEM.png`` and ``STEM.json``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from llm_app.soak.report import start_and_end, write_chart, write_csv
from llm_app.soak.run import soak, soak_server
from longrun.loadgen.runner import raise_nofile_limit


class Command(BaseCommand):
    help = "Hold M concurrent streams with churn against a real server for N minutes, sampling it; CSV + PNG chart."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--minutes", type=float, default=10.0)
        parser.add_argument("--streams", type=int, default=500)
        parser.add_argument("--server", default="daphne", choices=["daphne", "uvicorn", "granian"])
        parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
        parser.add_argument("--ttft-ms", type=float, default=500)
        parser.add_argument("--token-ms", type=float, default=200)
        parser.add_argument("--tokens", type=int, default=50)
        parser.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--output", default="benchmarks/results/soak", help="STEM of the .csv, .png and .json")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["minutes"] <= 0 or options["streams"] < 1:
            raise CommandError("--minutes must be positive and --streams at least 1.")
        raise_nofile_limit(options["streams"] * 4 + 1024)
        stem = Path(options["output"])
        with soak_server(
            server=options["server"],
            ttft_ms=options["ttft_ms"],
            token_ms=options["token_ms"],
            tokens=options["tokens"],
            database_url=options["database_url"] or None,
        ) as running:
            streams, minutes = options["streams"], options["minutes"]
            self.stdout.write(f"Soaking {options['server']} at {running.url}: {streams} streams, {minutes:g} min")
            result = asyncio.run(
                soak(
                    running,
                    minutes=options["minutes"],
                    streams=options["streams"],
                    tokens=options["tokens"],
                    interval_s=options["interval"],
                    seed=options["seed"],
                    say=self.stdout.write,
                )
            )
        table = start_and_end(result.samples)
        write_csv(result.samples, stem.with_suffix(".csv"))
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(result.started_at))
        title = f"soak: {options['server']}, {options['streams']} streams, {options['minutes']:g} min ({when})"
        write_chart(result.samples, stem.with_suffix(".png"), title=title)
        summary = {
            "options": {k: options[k] for k in ("minutes", "streams", "server", "ttft_ms", "token_ms", "tokens")},
            "started_at": when,
            "start_end": table,
            "outcomes": dict(result.outcomes),
            "statuses": dict(result.statuses),
            "settled": result.settled,
            "calls_without_text": result.calls_without_text,
            "load_average": result.load_average,
            "idle": asdict(result.samples[-1]),
            "idle_task_kinds": result.idle_task_kinds,
        }
        stem.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
        self.stdout.write("figure: start -> end (medians of the first and last minute under load)")
        for name, (start, end) in table.items():
            self.stdout.write(f"  {name:16s} {start:>10} -> {end}")
        self.stdout.write(f"idle after the load: {asdict(result.samples[-1])}")
        self.stdout.write(f"tasks left once idle, by what they run: {result.idle_task_kinds}")
        self.stdout.write(f"outcomes: {dict(result.outcomes)}")
        self.stdout.write(
            f"rows: {dict(result.statuses)}; settled: {result.settled}; "
            f"without text: {result.calls_without_text}; load average {result.load_average}"
        )
        self.stdout.write(f"wrote {stem}.csv, .png, .json")
        unexpected = sum(n for outcome, n in result.outcomes.items() if outcome.startswith("unexpected"))
        if unexpected or not result.settled or result.statuses.get("streaming") or result.calls_without_text:
            raise CommandError(
                f"The soak found problems: {unexpected} unexpected outcomes, settled={result.settled}, "
                f"{result.statuses.get('streaming', 0)} rows left streaming, {result.calls_without_text} without text."
            )
