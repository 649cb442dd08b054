"""Rules, findings and --select."""

from __future__ import annotations

import pytest

from longrun.audit import engine  # noqa: F401 (importing the engine registers every rule)
from longrun.audit.model import RULES, Finding, Severity, select_rules


def test_every_rule_has_a_stable_id_a_severity_a_title_and_a_fix():
    for rule_id, rule in RULES.items():
        assert rule_id == rule.id and rule_id.startswith("LR") and len(rule_id) == 5
        assert rule.severity in Severity and rule.title and rule.fix


def test_a_finding_as_a_dict_has_exactly_the_documented_keys():
    item = Finding("a.py", 3, "LR102", Severity.ERROR, "message", "fix")
    assert item.as_dict() == {
        "rule": "LR102",
        "severity": "error",
        "path": "a.py",
        "line": 3,
        "message": "message",
        "fix": "fix",
    }


def test_no_selection_selects_every_rule():
    assert select_rules(None) == frozenset(RULES)


def test_a_prefix_selects_its_family():
    assert select_rules("LR4") == {r for r in RULES if r.startswith("LR4")}


def test_ids_are_comma_separated_and_case_insensitive():
    assert select_rules("lr102, LR303") == {"LR102", "LR303"}


def test_an_unknown_rule_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="Unknown rule 'LR999'.*LR101"):
        select_rules("LR999")
