"""The audit's configuration: ``[tool.longrun.audit]`` in the project's ``pyproject.toml``, as ruff reads its own.

    [tool.longrun.audit]
    exclude = [...]            # replaces the default exclusions (migrations, build, dist, node_modules, ...)
    extend-exclude = [...]     # adds to them
    select = ["LR1", "LR403"]  # rule ids or prefixes (default: every rule)
    ignore = ["LR205"]
    per-file-ignores = { "legacy/*.py" = ["LR201"] }

Patterns are globs relative to the folder of the ``pyproject.toml`` (``tests/fixtures``, ``**/generated/*.py``); a
folder pattern excludes everything under it. Hidden folders and virtualenvs are never read. The nearest
``pyproject.toml`` holding the table, from the audited path upwards, is used. A path given explicitly is audited
even when it matches an exclusion (as ruff does without ``--force-exclude``).
"""

from __future__ import annotations

import fnmatch
import importlib
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: the `tomli` backport (a dependency of longrun there)
    try:
        tomllib: ModuleType | None = importlib.import_module("tomli")
    except ImportError:
        tomllib = None

from longrun.audit.model import select_rules

KEYS = frozenset({"exclude", "extend-exclude", "select", "ignore", "per-file-ignores"})


class ConfigError(ValueError):
    """A ``[tool.longrun.audit]`` table that cannot be used: the message names the key and what it expects."""


@dataclass(frozen=True)
class Config:
    """What ``[tool.longrun.audit]`` says, with the folder its patterns are relative to."""

    base: Path | None = None
    exclude: tuple[str, ...] = ()
    extend_exclude: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return str(self.base / "pyproject.toml") if self.base is not None else "(no configuration)"

    def rules(self, cli_select: str | None = None, cli_ignore: str | None = None) -> frozenset[str]:
        """The selected rule ids: the command line's ``--select`` replaces the configured one; both ignores apply."""
        selection = cli_select if cli_select else ",".join(self.select) or None
        ignored = ",".join([*self.ignore, *([cli_ignore] if cli_ignore else [])]) or None
        return select_rules(selection, ignore=ignored)

    @property
    def default_skips(self) -> frozenset[str] | None:
        """The folder names skipped by default, or None when ``exclude`` replaced them."""
        return frozenset() if self.exclude else None

    def excluded(self, root: Path) -> Callable[[Path], bool]:
        """A predicate over paths under ``root``: True for what the configuration excludes (never root itself)."""
        patterns = [*self.exclude, *self.extend_exclude]
        base = self.base
        root = root.resolve()

        if base is not None and root.is_relative_to(base) and root != base:
            # A path given explicitly is audited: the patterns that exclude it (or a folder above it) do not apply.
            root_rel = root.relative_to(base).as_posix()
            patterns = [p for p in patterns if not _matches(root_rel, p)]

        def test(path: Path) -> bool:
            if base is None or not patterns:
                return False
            resolved = path.resolve()
            if resolved == root or not resolved.is_relative_to(base):
                return False
            rel = resolved.relative_to(base).as_posix()
            return any(_matches(rel, pattern) for pattern in patterns)

        return test

    def ignored(self, rel_to_base: str, rule_id: str) -> bool:
        """True when ``per-file-ignores`` silences ``rule_id`` in that file (path relative to the base)."""
        return any(
            _matches(rel_to_base, pattern) and any(rule_id.startswith(code) for code in codes)
            for pattern, codes in self.per_file_ignores.items()
        )


def _matches(rel: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    if fnmatch.fnmatch(rel, pattern) or rel == pattern or rel.startswith(pattern + "/"):
        return True
    # A bare name (no slash) matches that name at any depth, as in .gitignore: `legacy` matches `a/legacy/x.py`.
    return "/" not in pattern and any(fnmatch.fnmatch(part, pattern) for part in rel.split("/"))


def find_config(start: Path) -> Config:
    """The configuration in force for a path: the nearest ``pyproject.toml`` with ``[tool.longrun.audit]``."""
    folder = start.resolve()
    if folder.is_file():
        folder = folder.parent
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            table = _table(path)
            if table is not None:
                return parse(table, candidate)
    return Config()


def _table(path: Path) -> dict[str, object] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc}).") from None
    if "longrun" not in text:
        return None
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        raise ConfigError(f"{path}: reading [tool.longrun.audit] on Python 3.10 needs tomli: pip install tomli.")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: cannot read it as TOML ({exc}).") from None
    table = data.get("tool", {}).get("longrun", {}).get("audit")
    return table if isinstance(table, dict) else None


def parse(table: Mapping[str, object], base: Path) -> Config:
    """A Config from the table's contents, checking every key and type (and that the rules named exist)."""
    unknown = set(table) - KEYS
    if unknown:
        raise ConfigError(
            f"{base / 'pyproject.toml'}: unknown key(s) {', '.join(sorted(unknown))} in [tool.longrun.audit]; "
            f"known: {', '.join(sorted(KEYS))}."
        )
    per_file = table.get("per-file-ignores", {})
    if not isinstance(per_file, dict) or not all(isinstance(k, str) and _strings(v) for k, v in per_file.items()):
        raise ConfigError(
            f"{base / 'pyproject.toml'}: per-file-ignores must map glob patterns to lists of rule ids, "
            'e.g. { "legacy/*.py" = ["LR201"] }.'
        )
    config = Config(
        base=base,
        exclude=_list(table, "exclude", base),
        extend_exclude=_list(table, "extend-exclude", base),
        select=_list(table, "select", base),
        ignore=_list(table, "ignore", base),
        per_file_ignores={k: tuple(v) for k, v in per_file.items()},
    )
    try:
        config.rules()
        for codes in config.per_file_ignores.values():
            select_rules(",".join(codes))
    except ValueError as exc:
        raise ConfigError(f"{base / 'pyproject.toml'}: {exc}") from None
    return config


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _list(table: Mapping[str, object], key: str, base: Path) -> tuple[str, ...]:
    value = table.get(key, [])
    if not _strings(value):
        raise ConfigError(f"{base / 'pyproject.toml'}: [tool.longrun.audit] {key} must be a list of strings.")
    return tuple(value)  # type: ignore[arg-type]
