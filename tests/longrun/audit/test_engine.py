"""The audit as a whole: planted problems found exactly, correct code and this repository left alone."""

from __future__ import annotations

from longrun.audit.engine import audit_path
from longrun.audit.model import RULES
from tests.helpers import planted_markers
from tests.longrun.audit.conftest import CORRECT, PLANTED, REPO


def test_the_correct_fixture_tree_produces_no_finding():
    assert audit_path(CORRECT) == []


def test_every_planted_problem_is_found_and_nothing_else():
    found = {(f.path, f.line, f.rule) for f in audit_path(PLANTED)}
    assert found == planted_markers(PLANTED)


def test_the_planted_tree_exercises_every_rule():
    assert {rule for _, _, rule in planted_markers(PLANTED)} == set(RULES)


def test_the_demo_project_audits_clean():
    # llm_app/views/sync.py, the "before" kept on purpose, silences its LR201 findings with noqa comments.
    findings = audit_path(REPO / "llm_app") + audit_path(REPO / "project")
    assert findings == []


def test_the_toolkit_itself_audits_clean():
    assert audit_path(REPO / "longrun") == []


def test_selected_rules_are_the_only_ones_reported():
    findings = audit_path(PLANTED, {"LR102", "LR303"})
    assert {f.rule for f in findings} == {"LR102", "LR303"}


def test_a_noqa_comment_naming_the_rule_silences_it_on_that_line(audit):
    findings = audit("""
        import time

        async def view(request):
            time.sleep(1)  # noqa: LR102
            time.sleep(2)  # noqa: E501
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR102", 5)]


def test_findings_are_sorted_by_path_then_line():
    findings = audit_path(PLANTED)
    assert findings == sorted(findings, key=lambda f: (f.path, f.line, f.rule))


def test_a_file_that_does_not_parse_is_skipped(audit):
    assert audit(files={"app/broken.py": "def broken(:\n"}) == []
