"""What the audit reports: severities, rules (a registry keyed by stable id) and findings."""

from __future__ import annotations

from dataclasses import dataclass

from longrun._compat import StrEnum


class Severity(StrEnum):
    """How bad a finding is once the project runs under ASGI."""

    ERROR = "error"  # breaks, or blocks the event loop
    WARNING = "warning"  # costs capacity or silently degrades
    INFO = "info"  # worth knowing; does not fail the audit


@dataclass(frozen=True, slots=True)
class Rule:
    """One check the audit makes: its stable id, severity, what it finds and the fix it asks for."""

    id: str
    severity: Severity
    title: str
    fix: str
    fixable: bool = False


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One problem at one place; ordered by path, then line, then rule."""

    path: str
    line: int
    rule: str
    severity: Severity
    message: str
    fix: str

    def as_dict(self) -> dict[str, str | int]:
        """Called by the JSON reporter: exactly the keys the documented format promises."""
        return {
            "rule": self.rule,
            "severity": str(self.severity),
            "path": self.path,
            "line": self.line,
            "message": self.message,
            "fix": self.fix,
        }


RULES: dict[str, Rule] = {}


def rule(rule_id: str, severity: Severity, title: str, fix: str, *, fixable: bool = False) -> Rule:
    """Called once per rule at import of its family module: registers it under its id."""
    if rule_id in RULES:
        raise ValueError(f"Rule {rule_id} is defined twice.")
    RULES[rule_id] = registered = Rule(rule_id, severity, title, fix, fixable)
    return registered


def finding(rule_: Rule, path: str, line: int, message: str) -> Finding:
    """Called by a rule when it fires: a finding carrying the rule's id, severity and fix."""
    return Finding(path=path, line=line, rule=rule_.id, severity=rule_.severity, message=message, fix=rule_.fix)


def select_rules(selection: str | None) -> frozenset[str]:
    """Called for ``--select``: ids or id prefixes (``LR1``), comma-separated; raises ValueError on an unknown one."""
    if not selection:
        return frozenset(RULES)
    chosen: set[str] = set()
    for part in (p.strip().upper() for p in selection.split(",")):
        if not part:
            continue
        matches = {rule_id for rule_id in RULES if rule_id.startswith(part)}
        if not matches:
            known = ", ".join(sorted(RULES))
            raise ValueError(f"Unknown rule {part!r} in --select. Known rules: {known}.")
        chosen |= matches
    return frozenset(chosen)
