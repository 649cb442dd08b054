"""``manage.py close_orphaned_calls``: closes, as errors, the calls left streaming by server processes that are gone."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from llm_app.recovery import ABANDONED_AFTER, close_orphaned_calls


class Command(BaseCommand):
    help = (
        "Close as `error` the LLM calls left `streaming` by a server process that died (their partial text is kept)."
        f" Calls of live processes on this host are never touched; calls of other hosts only after {ABANDONED_AFTER}."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        closed = close_orphaned_calls()
        self.stdout.write(f"Closed {closed} call(s) left streaming by a process that is gone.")
