"""The audit on the worked example of docs/migration-guide.md: it finds every problem planted in the legacy
project (each marked with a `# LRnnn` comment on its line), and in the migrated project no error or warning, only
the Infos about the thread hops of Django's own handler, middleware and Channels' dispatch, which it keeps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from longrun.audit.engine import audit_path
from tests.helpers import planted_markers

HERE = Path(__file__).resolve().parent
BEFORE = HERE / "before"
AFTER = HERE / "after"
REPO = HERE.parents[1]
# The guide's steps leave the migrated project on Django's handler and middleware and Channels' dispatch, all
# correct under ASGI; "What a thread hop costs" is where longrun's replacements come in.
AFTER_HOPS = [
    ("chat/consumers.py", 12, "LR305"),
    ("chatsite/asgi.py", 9, "LR206"),
    ("chatsite/settings.py", 18, "LR406"),
    ("chatsite/settings.py", 20, "LR406"),
]


def test_the_audit_finds_every_planted_problem_of_the_legacy_project_and_nothing_else():
    found = {(f.path, f.line, f.rule) for f in audit_path(BEFORE)}
    assert found == planted_markers(BEFORE)


def test_the_legacy_project_plants_the_problems_the_guide_walks_through():
    assert {rule for _, _, rule in planted_markers(BEFORE)} == {
        "LR102",
        "LR201",
        "LR202",
        "LR203",
        "LR204",
        "LR205",
        "LR206",
        "LR401",
        "LR402",
        "LR403",
        "LR405",
        "LR406",
    }


def test_the_migrated_project_audits_clean():
    findings = audit_path(AFTER)
    assert [(f.path, f.line, f.rule) for f in findings] == AFTER_HOPS
    assert {f.severity for f in findings} == {"info"}


def test_the_command_line_reports_the_same_as_json_with_the_documented_exit_status():
    def run(root: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "longrun", "audit", str(root), "--format", "json"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )

    before, after = run(BEFORE), run(AFTER)
    assert before.returncode == 1, before.stderr
    assert {(f["path"], f["line"], f["rule"]) for f in json.loads(before.stdout)} == planted_markers(BEFORE)
    assert after.returncode == 0, after.stderr  # Infos only
    assert [(f["path"], f["line"], f["rule"]) for f in json.loads(after.stdout)] == AFTER_HOPS


def test_pytest_collects_nothing_from_the_example_projects():
    # Their modules are read by the audit and imported by the behaviour tests, never collected as tests.
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(BEFORE), str(AFTER)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 5, result.stdout + result.stderr  # 5: no tests collected


def test_importing_the_example_s_app_modules_configures_no_django_settings():
    # The behaviour tests import the views, helpers, middleware and consumer; the example's settings, urls, wsgi and
    # asgi modules are never imported, so the suite's own settings (project.settings_test) stay in charge.
    code = (
        "import os\n"
        "import tests.legacy.before.chat.views, tests.legacy.before.chat.middleware\n"
        "import tests.legacy.after.chat.views, tests.legacy.after.chat.middleware, tests.legacy.after.chat.consumers\n"
        "from django.conf import settings\n"
        "print(os.environ.get('DJANGO_SETTINGS_MODULE'), settings.configured)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["None", "False"]
