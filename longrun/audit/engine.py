"""Runs the registered checks over one audited PATH and returns their findings, filtered and in order."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from longrun.audit import rules as _rules  # noqa: F401 (importing the rules registers them and their checks)
from longrun.audit.analysis.context import Context
from longrun.audit.analysis.project import load_project
from longrun.audit.config import Config, find_config
from longrun.audit.django_versions import project_django
from longrun.audit.model import CHECKS, Finding


def audit_path(root: Path, selected: Iterable[str] | None = None, *, config: Config | None = None) -> list[Finding]:
    """The findings of the selected rules (None: the configuration's, by default every rule) for the tree at
    ``root`` (a folder or one file), deduplicated and sorted; ``# noqa`` comments and the configuration's
    exclusions and per-file ignores applied."""
    config = config if config is not None else find_config(root)
    chosen = frozenset(selected) if selected is not None else config.rules()
    project = load_project(root, config.excluded(root), config.default_skips)
    ctx = Context(project)
    ctx.django = project_django(root)
    ctx.prepare()
    by_rel = {module.rel: module for module in project.modules}
    found: set[Finding] = set()
    for registered in CHECKS:
        if not registered.rules & chosen:
            continue
        for item in registered.function(ctx):
            if item.rule not in chosen:
                continue
            module = by_rel.get(item.path)
            if module is not None and module.suppressed(item.line, item.rule):
                continue
            if module is not None and config.base is not None and module.path.is_relative_to(config.base):
                if config.ignored(module.path.relative_to(config.base).as_posix(), item.rule):
                    continue
            found.add(item)
    return sorted(found)
