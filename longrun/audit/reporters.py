"""Turns findings into what people (text) and tools (JSON) read."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

from longrun.audit.model import Finding, Severity


def text(findings: Sequence[Finding]) -> str:
    """Called for ``--format text``: one block per finding, then a count by severity."""
    if not findings:
        return "No findings: nothing the audit can see blocks or breaks under ASGI.\n"
    blocks = [f"{f.path}:{f.line}: {f.rule} [{f.severity}] {f.message}\n    fix: {f.fix}" for f in findings]
    counts = Counter(f.severity for f in findings)
    summary = ", ".join(f"{counts[s]} {s}{'s' if counts[s] != 1 else ''}" for s in Severity if counts[s])
    return "\n".join(blocks) + f"\n\n{len(findings)} finding{'s' if len(findings) != 1 else ''} ({summary}).\n"


def as_json(findings: Sequence[Finding]) -> str:
    """Called for ``--format json``: a list of objects with the keys rule, severity, path, line, message, fix."""
    return json.dumps([f.as_dict() for f in findings], indent=2) + "\n"


def exit_status(findings: Sequence[Finding]) -> int:
    """1 when any finding is an error or a warning, else 0."""
    return 1 if any(f.severity in (Severity.ERROR, Severity.WARNING) for f in findings) else 0
