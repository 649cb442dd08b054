"""docs/audit.md documents every rule with the severity the code gives it."""

from __future__ import annotations

import re

import longrun.audit  # noqa: F401 (importing the package registers every rule)
from longrun.audit.model import RULES
from tests.longrun.audit.conftest import REPO


def test_the_rule_table_lists_every_rule_with_its_severity():
    rows = re.findall(r"^\| (LR\d{3}) \| (\w+) \|", (REPO / "docs" / "audit.md").read_text(), re.MULTILINE)
    assert dict(rows) == {rule.id: str(rule.severity) for rule in RULES.values()}


def test_the_rules_marked_fixable_are_the_ones_the_table_marks_fix():
    table = (REPO / "docs" / "audit.md").read_text()
    marked = set(re.findall(r"^\| (LR\d{3}) \|[^\n]*\*\*--fix\*\*", table, re.MULTILINE))
    assert marked == {rule.id for rule in RULES.values() if rule.fixable}
