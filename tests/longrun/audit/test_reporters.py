"""The text and JSON reports, and the exit status they imply."""

from __future__ import annotations

import json

from longrun.audit import reporters
from longrun.audit.model import RULES, Finding, Severity

ERROR = Finding("app/views.py", 4, "LR102", Severity.ERROR, "time.sleep() blocks", "use asyncio.sleep")
INFO = Finding("app/clients.py", 2, "LR205", Severity.INFO, "no timeout", "pass timeout=")


def test_json_is_a_list_of_objects_with_exactly_the_documented_keys():
    data = json.loads(reporters.as_json([ERROR, INFO]))
    assert [set(item) for item in data] == [{"rule", "severity", "path", "line", "message", "fix"}] * 2
    assert data[0] == {
        "rule": "LR102",
        "severity": "error",
        "path": "app/views.py",
        "line": 4,
        "message": "time.sleep() blocks",
        "fix": "use asyncio.sleep",
    }


def test_json_of_no_findings_is_an_empty_list():
    assert json.loads(reporters.as_json([])) == []


def test_text_names_place_rule_severity_message_fix_and_counts():
    report = reporters.text([ERROR, INFO])
    assert "app/views.py:4: LR102 [error] time.sleep() blocks\n    fix: use asyncio.sleep" in report
    assert report.endswith("2 findings (1 error, 1 info).\n")


def test_text_of_no_findings_says_so():
    assert reporters.text([]).startswith("No findings")


def test_an_error_or_warning_makes_the_exit_status_1():
    assert reporters.exit_status([INFO, ERROR]) == 1


def test_infos_alone_leave_the_exit_status_0():
    assert reporters.exit_status([INFO]) == 0


def test_sarif_has_the_2_1_0_shape_github_code_scanning_reads():
    log = json.loads(reporters.sarif([ERROR, INFO]))
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    [run] = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "longrun-audit"
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == sorted(RULES) and len(ids) == len(RULES)
    assert all(rule["shortDescription"]["text"] and rule["defaultConfiguration"]["level"] for rule in driver["rules"])
    first, second = run["results"]
    assert first["ruleId"] == "LR102" and first["level"] == "error"
    assert driver["rules"][first["ruleIndex"]]["id"] == "LR102"
    location = first["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "app/views.py" and location["region"] == {"startLine": 4}
    assert "time.sleep() blocks" in first["message"]["text"]
    assert second["level"] == "note"  # SARIF's name for an info finding


def test_sarif_of_no_findings_still_lists_the_rules():
    log = json.loads(reporters.sarif([]))
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"]
