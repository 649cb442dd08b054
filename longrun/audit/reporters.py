"""Turns findings into what people (text) and tools (JSON, SARIF 2.1.0 for GitHub code scanning) read."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from importlib import metadata

from longrun.audit.model import RULES, Finding, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def text(findings: Sequence[Finding]) -> str:
    """One block per finding, then a count by severity."""
    if not findings:
        return "No findings: nothing the audit can see blocks or breaks under ASGI.\n"
    blocks = [f"{f.path}:{f.line}: {f.rule} [{f.severity}] {f.message}\n    fix: {f.fix}" for f in findings]
    counts = Counter(f.severity for f in findings)
    summary = ", ".join(f"{counts[s]} {s}{'s' if counts[s] != 1 else ''}" for s in Severity if counts[s])
    return "\n".join(blocks) + f"\n\n{len(findings)} finding{'s' if len(findings) != 1 else ''} ({summary}).\n"


def as_json(findings: Sequence[Finding]) -> str:
    """A list of objects with the keys rule, severity, path, line, message, fix."""
    return json.dumps([f.as_dict() for f in findings], indent=2) + "\n"


def sarif(findings: Sequence[Finding], *, base: str = "") -> str:
    """A SARIF 2.1.0 log: one run, the whole rule catalog as its driver's rules, one result per finding.

    ``base`` prefixes the paths (relative to the audited PATH) so locations resolve from the repository root, as
    GitHub code scanning expects."""
    ordered = sorted(RULES)
    index = {rule_id: position for position, rule_id in enumerate(ordered)}
    rules = [
        {
            "id": rule.id,
            "name": rule.title,
            "shortDescription": {"text": rule.title},
            "fullDescription": {"text": rule.fix},
            "help": {"text": rule.fix},
            "defaultConfiguration": {"level": SARIF_LEVELS[rule.severity]},
            "properties": {"severity": str(rule.severity), "fixable": rule.fixable},
        }
        for rule in (RULES[rule_id] for rule_id in ordered)
    ]
    results = [
        {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": SARIF_LEVELS[f.severity],
            "message": {"text": f"{f.message} Fix: {f.fix}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f"{base}{f.path}", "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": f.line},
                    }
                }
            ],
        }
        for f in findings
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "longrun-audit",
                        "version": _version(),
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _version() -> str:
    try:
        return metadata.version("longrun")
    except metadata.PackageNotFoundError:
        return "0"


def exit_status(findings: Sequence[Finding]) -> int:
    """1 when any finding is an error or a warning, else 0."""
    return 1 if any(f.severity in (Severity.ERROR, Severity.WARNING) for f in findings) else 0
