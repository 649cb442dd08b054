"""The ASGI audit: reads a Django source tree (never imports it) and reports what blocks or breaks under ASGI.

A rule catalog in ruff's manner: each rule is one registry entry (``RULES``: id, severity, message, fix, optional
fixer), registered on import with the checks that report it. Entry points: ``audit_path`` for code,
``longrun.audit.cli`` for ``python -m longrun audit`` and ``manage.py asgi_audit``, ``settings_rules`` for the
system checks in ``longrun.checks``.
"""

from longrun.audit.engine import audit_path
from longrun.audit.model import RULES, Finding, Rule, Severity

__all__ = ["RULES", "Finding", "Rule", "Severity", "audit_path"]
