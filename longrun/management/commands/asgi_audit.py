"""``manage.py asgi_audit [PATH ...]``: the static ASGI audit of a source tree, by default this project's BASE_DIR."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from longrun.audit.cli import UsageError, add_arguments, run


class Command(BaseCommand):
    help = "Audit Django source for what blocks or breaks under ASGI (exit 1 on an error or warning finding)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        add_arguments(parser, paths_required=False)

    def handle(self, *args: Any, **options: Any) -> None:
        paths = options["paths"] or [str(settings.BASE_DIR)]
        try:
            status = run(
                paths,
                output_format=options["format"],
                select=options["select"],
                ignore=options["ignore"],
                fix=options["fix"],
                isolated=options["isolated"],
                out=self.stdout,
            )
        except UsageError as exc:
            raise CommandError(str(exc), returncode=2) from None
        if status:
            sys.exit(status)
