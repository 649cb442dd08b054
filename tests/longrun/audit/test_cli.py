"""``python -m longrun audit``: runs without a Django project, prints text or JSON, exits 0, 1 or 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.longrun.audit.conftest import CORRECT, PLANTED


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # No DJANGO_SETTINGS_MODULE, and a working directory outside the repository: no Django project at all.
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    return subprocess.run(
        [sys.executable, "-m", "longrun", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_findings_print_as_json_with_paths_relative_to_the_audited_path(tmp_path: Path):
    result = run_module("audit", str(PLANTED), "--format", "json", "--select", "LR303", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout) == [
        {
            "rule": "LR303",
            "severity": "error",
            "path": "chat/asgi.py",
            "line": 8,
            "message": json.loads(result.stdout)[0]["message"],
            "fix": json.loads(result.stdout)[0]["fix"],
        }
    ]


def test_a_clean_tree_exits_0(tmp_path: Path):
    result = run_module("audit", str(CORRECT), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("No findings")


def test_a_missing_path_exits_2_with_a_message(tmp_path: Path):
    result = run_module("audit", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert result.returncode == 2
    assert "No such file or directory" in result.stderr


def test_an_unknown_rule_exits_2_with_a_message(tmp_path: Path):
    result = run_module("audit", str(CORRECT), "--select", "LR999", cwd=tmp_path)
    assert result.returncode == 2
    assert "Unknown rule 'LR999'" in result.stderr


def test_an_unknown_command_exits_2(tmp_path: Path):
    result = run_module("lint", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown command 'lint': choose one of audit, simulator." in result.stderr


def test_the_audited_project_is_never_imported(tmp_path: Path):
    marker = tmp_path / "imported"
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "settings.py").write_text(f"open({str(marker)!r}, 'w').close()\nDEBUG = False\n")
    run_module("audit", str(tmp_path / "tree"), cwd=tmp_path)
    assert not marker.exists()
