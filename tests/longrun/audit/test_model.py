"""The rule catalog: one registry entry per rule, checks registered against them, findings and --select."""

from __future__ import annotations

import pytest

import longrun.audit
from longrun.audit.model import CHECKS, RULES, Finding, Rule, Severity, rule, select_rules


def test_importing_the_package_registers_the_whole_catalog():
    assert len(RULES) == 29
    assert {r[:3] for r in RULES} == {"LR1", "LR2", "LR3", "LR4"}


def test_the_package_exports_its_public_api():
    assert longrun.audit.__all__ == ["RULES", "Finding", "Rule", "Severity", "audit_path"]
    assert longrun.audit.RULES is RULES and longrun.audit.Rule is Rule


def test_every_rule_has_a_stable_id_a_severity_a_title_a_message_and_a_fix():
    assert len(RULES) >= 26  # an empty registry must not pass the loop below vacuously
    for rule_id, item in RULES.items():
        assert rule_id == item.id and rule_id.startswith("LR") and len(rule_id) == 5
        assert item.severity in Severity and item.title and item.message and item.fix


def test_every_rule_is_reported_by_a_registered_check():
    assert CHECKS
    assert set().union(*(registered.rules for registered in CHECKS)) == set(RULES)


def test_a_fixable_rule_has_a_fix_title_and_a_fixer():
    fixable = [item for item in RULES.values() if item.fixable]
    assert {item.id for item in fixable} == {"LR102", "LR104", "LR105", "LR111"}
    assert all(item.fix_title and callable(item.fixer) for item in fixable)


def test_a_rule_id_defined_twice_is_refused():
    with pytest.raises(ValueError, match="LR101 is defined twice"):
        rule("LR101", Severity.ERROR, "again", message="m", fix="f")


def test_a_finding_is_made_from_its_rule_with_the_message_template_filled():
    made = RULES["LR102"].at("app/views.py", 3, subject="`time.sleep()` in async `view`", chain="", advice="use x")
    assert made == Finding(
        "app/views.py",
        3,
        "LR102",
        Severity.ERROR,
        "`time.sleep()` in async `view` stops the whole event loop: use x.",
        RULES["LR102"].fix,
    )


def test_severity_prints_as_its_value():
    assert str(Severity.WARNING) == "warning" and f"{Severity.INFO}" == "info"


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


def test_ignored_rules_are_taken_out_of_the_selection():
    assert select_rules("LR1", ignore="LR10") == {"LR110", "LR111", "LR112"}


def test_an_unknown_rule_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="Unknown rule 'LR999'.*LR101"):
        select_rules("LR999")
