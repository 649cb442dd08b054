"""The audit on the DRF worked example of docs/migration-guide.md: it finds every problem planted in the legacy
support desk (each marked with a `# LRnnn` comment on its line), and in the migrated one no error or warning,
only the Infos about the thread hops of Django's own handler and middleware, which it keeps."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from longrun.audit.engine import audit_path
from tests.helpers import planted_markers

HERE = Path(__file__).resolve().parent
DRF_BEFORE = HERE / "drf_before"
DRF_AFTER = HERE / "drf_after"
REPO = HERE.parents[1]
# As in the first example: Django's handler and middleware stay; "What a thread hop costs" replaces them.
DRF_AFTER_HOPS = [
    ("helpdesk/asgi.py", 8, "LR206"),
    *[("helpdesk/settings.py", line, "LR406") for line in range(17, 22)],
]


def test_the_audit_finds_every_planted_problem_of_the_legacy_drf_project_and_nothing_else():
    found = {(f.path, f.line, f.rule) for f in audit_path(DRF_BEFORE)}
    assert found == planted_markers(DRF_BEFORE)


def test_the_legacy_drf_project_plants_the_problems_the_drf_chapter_walks_through():
    planted = {rule for _, _, rule in planted_markers(DRF_BEFORE)}
    assert planted == {"LR201", "LR202", "LR203", "LR205", "LR206", "LR403", "LR406"}
    llm_calls = [(path, rule) for path, _, rule in planted_markers(DRF_BEFORE) if rule == "LR201"]
    assert llm_calls == [("tickets/views.py", "LR201")] * 2  # one in each LLM endpoint, a DRF APIView's post()


def test_the_migrated_drf_project_audits_clean():
    findings = audit_path(DRF_AFTER)
    assert [(f.path, f.line, f.rule) for f in findings] == DRF_AFTER_HOPS
    assert {f.severity for f in findings} == {"info"}


def test_the_command_line_reports_the_same_as_json_with_the_documented_exit_status():
    result = subprocess.run(
        [sys.executable, "-m", "longrun", "audit", str(DRF_BEFORE), "--format", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert {(f["path"], f["line"], f["rule"]) for f in json.loads(result.stdout)} == planted_markers(DRF_BEFORE)


def test_pytest_collects_nothing_from_the_drf_example_projects():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            str(DRF_BEFORE),
            str(DRF_AFTER),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 5, result.stdout + result.stderr  # 5: no tests collected
