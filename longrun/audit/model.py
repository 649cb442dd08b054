"""What the audit reports, in ruff's manner: a registry of rules keyed by stable id, checks registered against the
rules they can report, and findings.

A rule is one registry entry: its id, severity, what it finds (``title``), the message template of its findings,
the fix it asks for and, when the fix is mechanical, the title and the function of that fix (``fixer``). A check
is a function over the audited project, registered with ``@check(RULE, ...)`` for the rules it reports; the engine
runs only the checks of the selected rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from longrun._compat import StrEnum

if TYPE_CHECKING:
    from longrun.audit.analysis.context import Context
    from longrun.audit.analysis.project import Module


class Severity(StrEnum):
    """How bad a finding is once the project runs under ASGI."""

    ERROR = "error"  # breaks, or blocks the event loop
    WARNING = "warning"  # costs capacity or silently degrades
    INFO = "info"  # worth knowing; does not fail the audit


@dataclass(frozen=True, slots=True)
class Edit:
    """Where a mechanical fix applies and what it needs: the span of the node to rewrite (``what`` says whether it
    is a call or the iterable of a loop), the replacement name, and the imports the rewritten code needs."""

    line: int
    col: int
    end_line: int
    end_col: int
    what: str  # "call" or "loop"
    replacement: str = ""
    imports: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[int, int, int, int, str]:
        return self.line, self.col, self.end_line, self.end_col, self.what


# A fixer turns the libcst node at an Edit's span into its replacement (typed loosely: libcst is optional).
Fixer = Callable[[Any, Edit], Any]


@dataclass(frozen=True, slots=True)
class Rule:
    """One check the audit makes: a registry entry."""

    id: str
    severity: Severity
    title: str
    message: str  # a str.format template over the fields a check passes
    fix: str
    fix_title: str | None = None
    fixer: Fixer | None = None

    @property
    def fixable(self) -> bool:
        return self.fixer is not None

    def at(self, module: Module | str, line: int, *, edit: Edit | None = None, **fields: object) -> Finding:
        """A finding of this rule at a place of the audited tree, its message formatted from ``fields``."""
        path = module if isinstance(module, str) else module.rel
        message = self.message.format(**fields)
        return Finding(path, line, self.id, self.severity, message, self.fix, edit=edit)


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One problem at one place; ordered by path, then line, then rule."""

    path: str
    line: int
    rule: str
    severity: Severity
    message: str
    fix: str
    edit: Edit | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, str | int]:
        """Exactly the keys the documented JSON format promises."""
        return {
            "rule": self.rule,
            "severity": str(self.severity),
            "path": self.path,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
        }


RULES: dict[str, Rule] = {}

CheckFunction = Callable[["Context"], Iterator[Finding]]


@dataclass(frozen=True, slots=True)
class Check:
    """A registered check and the rules it may report."""

    function: CheckFunction
    rules: frozenset[str]


CHECKS: list[Check] = []


def rule(
    rule_id: str,
    severity: Severity,
    title: str,
    *,
    message: str,
    fix: str,
    fix_title: str | None = None,
    fixer: Fixer | None = None,
) -> Rule:
    """Registers a rule under its id (once: a second definition of an id is a bug) and returns it."""
    if rule_id in RULES:
        raise ValueError(f"Rule {rule_id} is defined twice.")
    RULES[rule_id] = made = Rule(rule_id, severity, title, message, fix, fix_title, fixer)
    return made


def check(*rules: Rule) -> Callable[[CheckFunction], CheckFunction]:
    """Registers the decorated function as the check of ``rules``: it runs when any of them is selected, and the
    engine keeps only the findings of selected rules."""

    def register(function: CheckFunction) -> CheckFunction:
        CHECKS.append(Check(function, frozenset(r.id for r in rules)))
        return function

    return register


def select_rules(selection: str | None, *, ignore: str | None = None) -> frozenset[str]:
    """Rule ids or id prefixes (``LR1``), comma-separated, minus the ignored ones; raises ValueError on an unknown
    id, naming the known ones."""
    chosen = _expand(selection, "--select") if selection else set(RULES)
    return frozenset(chosen - (_expand(ignore, "--ignore") if ignore else set()))


def _expand(selection: str, option: str) -> set[str]:
    chosen: set[str] = set()
    for part in (p.strip().upper() for p in selection.split(",")):
        if not part:
            continue
        matches = {rule_id for rule_id in RULES if rule_id.startswith(part)}
        if not matches:
            known = ", ".join(sorted(RULES))
            raise ValueError(f"Unknown rule {part!r} in {option}. Known rules: {known}.")
        chosen |= matches
    return chosen
