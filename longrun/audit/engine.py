"""Runs every rule family over one audited PATH and returns its findings, filtered and in order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from longrun.audit import async_rules, consumer_rules, settings_rules, view_rules
from longrun.audit.infer import Context
from longrun.audit.model import RULES, Finding
from longrun.audit.walker import load_project

Family = Callable[[Context], Iterator[Finding]]
FAMILIES: tuple[Family, ...] = (async_rules.check, view_rules.check, consumer_rules.check, settings_rules.check)


def audit_path(root: Path, selected: Iterable[str] | None = None) -> list[Finding]:
    """Called once per PATH by the command and the CLI: the findings of the selected rules, deduplicated, sorted."""
    chosen = frozenset(selected) if selected is not None else frozenset(RULES)
    project = load_project(root)
    ctx = Context(project)
    by_rel = {module.rel: module for module in project.modules}
    found: set[Finding] = set()
    for family in FAMILIES:
        for item in family(ctx):
            if item.rule not in chosen:
                continue
            module = by_rel.get(item.path)
            if module is not None and module.suppressed(item.line, item.rule):
                continue
            found.add(item)
    return sorted(found)
