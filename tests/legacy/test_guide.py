"""docs/migration-guide.md stays true to its worked example: quoted code, the audit's output, cited tests."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from longrun.audit.engine import audit_path
from tests.helpers import planted_markers
from tests.legacy.test_audit import AFTER, BEFORE, REPO
from tests.legacy.test_drf_audit import DRF_BEFORE

GUIDE = REPO / "docs" / "migration-guide.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(GUIDE.read_text()) if lang == language]


def test_every_block_that_quotes_the_example_matches_the_file():
    quoted = [b for b in blocks("python") if b.startswith("# tests/legacy/")]
    assert len(quoted) >= 15
    for block in quoted:
        header, _, body = block.partition("\n")
        source = (REPO / header.removeprefix("# ").strip()).read_text()
        assert body.rstrip("\n") in source, f"{header}: the guide's quote no longer matches the file"


@pytest.mark.parametrize("project", [BEFORE, DRF_BEFORE], ids=["legacy", "legacy DRF"])
def test_the_audit_output_shown_for_a_legacy_project_is_what_the_audit_prints(project: Path):
    command = f"$ python -m longrun audit {project.relative_to(REPO).as_posix()}\n"
    (shown,) = [b for b in blocks("text") if b.startswith(command)]
    lines = [line for line in shown.splitlines()[1:] if line and not re.match(r"\d+ findings", line)]
    findings = audit_path(project)
    assert lines == [f"{f.path}:{f.line}: {f.rule} [{f.severity}] {f.message}" for f in findings]
    assert f"\n{len(findings)} findings (" in shown


def test_the_first_attempt_consumer_is_what_the_audit_reports_as_lr301(tmp_path: Path):
    snippet = next(b for b in blocks("python") if b.startswith("# chat/consumers.py, a first attempt"))
    tree = shutil.copytree(AFTER, tmp_path / "project", ignore=shutil.ignore_patterns("__pycache__"))
    imports = (
        "from channels.generic.websocket import AsyncJsonWebsocketConsumer\n"
        "from django.conf import settings\n\nfrom .views import llm_client\n\n\n"
    )
    (tree / "chat" / "consumers.py").write_text(imports + snippet)
    findings = audit_path(tree)
    assert [f.rule for f in findings if f.severity != "info"] == ["LR301"]
    # The rest are the thread hops the migrated project keeps (test_audit.AFTER_HOPS), this consumer's included.
    assert {f.rule for f in findings if f.severity == "info"} == {"LR206", "LR305", "LR406"}


def test_every_test_the_guide_cites_exists():
    cited = set(re.findall(r"`(test_\w+)`", GUIDE.read_text()))
    defined = {
        node.name
        for path in (REPO / "tests").rglob("test_*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    assert cited and cited <= defined, cited - defined


def test_the_guide_names_every_problem_planted_in_the_legacy_projects():
    text = GUIDE.read_text()
    planted = planted_markers(BEFORE) | planted_markers(DRF_BEFORE)
    assert {rule for _, _, rule in planted} <= set(re.findall(r"LR\d{3}", text))


def test_the_system_check_output_shown_for_the_legacy_project_is_what_check_prints(tmp_path: Path):
    shown = next(b for b in blocks("text") if b.startswith("?: (longrun."))
    project = shutil.copytree(BEFORE, tmp_path / "before", ignore=shutil.ignore_patterns("__pycache__"))
    settings = project / "chatsite" / "settings.py"
    settings.write_text(settings.read_text().replace('"chat"]', '"chat", "longrun"]'))
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH"}}
    checked = subprocess.run(
        [sys.executable, "manage.py", "check", "--tag", "async"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    printed = [line for line in (checked.stdout + checked.stderr).splitlines() if line.startswith("?: (longrun.")]
    assert printed == shown.splitlines()
    assert checked.returncode == 1  # LR405 is an error
