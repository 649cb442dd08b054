"""``manage.py compare_servers``: the blocking-worker problem and its fix as numbers, from one command."""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path
from typing import IO, Any, cast

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console

from llm_app.bench import report
from llm_app.bench.orchestrate import compare
from llm_app.bench.scenarios import DEFAULT_SERVERS, PATHS, SERVERS, LLMTiming, Scenario, quick


def _ints(text: str, flag: str = "--concurrency") -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise CommandError(f"{flag} takes comma-separated integers, such as 32,100,500; got {text!r}.") from None
    if not values or min(values) < 1:
        raise CommandError(f"{flag} needs at least one number, each 1 or more.")
    return values


def _names(text: str, known: object, flag: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = [n for n in names if n not in known]  # type: ignore[operator]
    if unknown or not names:
        raise CommandError(f"{flag}: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(known)}.")  # type: ignore[arg-type]
    return names


class Command(BaseCommand):
    help = "Start the simulator and each server in turn, load every path with concurrent users, report the figures."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--concurrency", default="32", help="comma-separated users per run (default 32)")
        parser.add_argument(
            "--servers", default=",".join(DEFAULT_SERVERS), help="comma-separated, from: " + ", ".join(SERVERS)
        )
        parser.add_argument(
            "--paths",
            default="sync,async,websocket",
            help="comma-separated: sync, async, websocket (streams), complete (the async view's JSON reply)",
        )
        parser.add_argument(
            "--processes",
            default="1",
            help="comma-separated processes per ASGI server, one run each (1,2 shows how throughput grows)",
        )
        parser.add_argument(
            "--first-burst",
            action="store_true",
            help="measure the first burst after each server starts (no discarded warm-up burst)",
        )
        parser.add_argument("--ttft-ms", type=int, default=200)
        parser.add_argument("--token-ms", type=int, default=40)
        parser.add_argument("--tokens", type=int, default=50)
        parser.add_argument("--requests", type=int, default=1, help="requests per user (default 1)")
        parser.add_argument("--duration", type=float, help="seconds each user keeps sending (instead of --requests)")
        parser.add_argument("--workers", type=int, default=5, help="gunicorn workers (default 5, the PHP-FPM analog)")
        parser.add_argument("--threads", type=int, default=32, help="threads per gthread worker (default 32)")
        parser.add_argument("--database-url", help="the servers' database (default: a fresh SQLite file per run)")
        parser.add_argument("--quick", action="store_true", help="a smoke run under a minute")
        parser.add_argument(
            "--output", default="benchmarks/results/compare_servers", help="path stem of .json and .png"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        scenario = self._scenario(options)
        # SIGTERM must stop the servers too: exit through the context managers that own them, as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        # Wide enough for every column when the output is a file or a CI log, not a terminal.
        console = Console(file=cast(IO[str], self.stdout), highlight=False, width=None if self.stdout.isatty() else 220)
        command = "python manage.py compare_servers " + shlex.join(sys.argv[2:])
        comparison = compare(
            scenario, command=command.strip(), progress=lambda line: console.print(f"[dim]{line}[/dim]")
        )
        report.print_table(comparison, console)
        stem = Path(options["output"])
        if not stem.is_absolute():
            stem = Path(settings.BASE_DIR) / stem
        report.write_json(comparison, stem.with_suffix(".json"))
        report.write_chart(comparison, stem.with_suffix(".png"))
        report.write_markdown(comparison, stem.with_suffix(".md"))
        console.print(f"Wrote {stem.with_suffix('.json')}, {stem.with_suffix('.png')} and {stem.with_suffix('.md')}")

    def _scenario(self, options: dict[str, Any]) -> Scenario:
        if options["quick"]:
            return quick()
        if min(options["ttft_ms"], options["token_ms"]) < 0 or options["tokens"] < 1 or options["workers"] < 1:
            raise CommandError("--ttft-ms and --token-ms must be >= 0, --tokens and --workers >= 1.")
        if options["requests"] < 1:
            raise CommandError("--requests must be 1 or more.")
        return Scenario(
            concurrency=_ints(options["concurrency"]),
            timing=LLMTiming(ttft_ms=options["ttft_ms"], token_ms=options["token_ms"], tokens=options["tokens"]),
            requests_per_user=options["requests"],
            duration_s=options["duration"],
            servers=_names(options["servers"], SERVERS, "--servers"),
            paths=_names(options["paths"], PATHS, "--paths"),
            workers=options["workers"],
            threads=options["threads"],
            database_url=options["database_url"],
            processes=_ints(options["processes"], "--processes"),
            first_burst=options["first_burst"],
        )
