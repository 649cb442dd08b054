"""``manage.py llm_simulator``: serve the OpenAI-compatible LLM simulator until SIGINT/SIGTERM.

    python manage.py llm_simulator --host 127.0.0.1 --port 9100 --ttft-ms 200 --token-ms 40 --tokens 50

Prints ``LLM simulator listening on http://HOST:PORT/v1`` once listening (``--port 0`` picks a free port).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from longrun.extras import MissingExtra
from longrun.simulator.config import add_arguments, config_from_options


class Command(BaseCommand):
    help = "Serve an OpenAI-compatible LLM simulator with exact timing, deterministic replies and faults on request."
    # The simulator touches neither models nor the database; checks would only slow its start.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            config = config_from_options(options)
            from longrun.simulator.server import listening_line, run
        except (ValueError, MissingExtra) as exc:
            raise CommandError(str(exc)) from None
        run(config, on_listening=lambda url: self.announce(listening_line(url)))

    def announce(self, line: str) -> None:
        """Print the listening line, flushed: scripts and tests wait for this single stdout line."""
        self.stdout.write(line)
        self.stdout.flush()
