"""``manage.py llm_simulator``: serve the OpenAI-compatible LLM simulator until SIGINT/SIGTERM.

    python manage.py llm_simulator --host 127.0.0.1 --port 9100 --ttft-ms 200 --token-ms 40 --tokens 50

Prints ``LLM simulator listening on http://HOST:PORT/v1`` once listening (``--port 0`` picks a free port).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from longrun.simulator.config import add_arguments, config_from_options
from longrun.simulator.server import listening_line, run


class Command(BaseCommand):
    help = "Serve an OpenAI-compatible LLM simulator with exact timing, deterministic replies and faults on request."
    # The simulator touches neither models nor the database; checks would only slow its start.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        """Called by Django when parsing the command line."""
        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        """Called by Django to run the command: serves until a signal."""
        try:
            config = config_from_options(options)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        run(config, options["host"], options["port"], on_listening=self.announce)

    def announce(self, url: str) -> None:
        """Called once listening: the single stdout line that scripts and tests wait for."""
        self.stdout.write(listening_line(url))
        self.stdout.flush()
