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
            "line": 9,
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


def test_sarif_output_locates_findings_from_the_working_directory(tmp_path: Path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "views.py").write_text("import time\n\nasync def view(request):\n    time.sleep(1)\n")
    result = run_module("audit", "app", "--format", "sarif", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    [item] = json.loads(result.stdout)["runs"][0]["results"]
    assert item["ruleId"] == "LR102"
    assert item["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "app/views.py"


def test_ignore_leaves_rules_out(tmp_path: Path):
    result = run_module("audit", str(PLANTED), "--format", "json", "--select", "LR1", "--ignore", "LR10", cwd=tmp_path)
    assert {item["rule"] for item in json.loads(result.stdout)} == {"LR110", "LR111", "LR112"}


def test_isolated_ignores_the_configuration(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[tool.longrun.audit]\nignore = ["LR102"]\n')
    (tmp_path / "views.py").write_text("import time\n\nasync def view(request):\n    time.sleep(1)\n")
    assert run_module("audit", ".", cwd=tmp_path).returncode == 0
    assert run_module("audit", ".", "--isolated", cwd=tmp_path).returncode == 1


def test_an_unusable_configuration_exits_2_naming_it(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text('[tool.longrun.audit]\nselect = "LR1"\n')
    result = run_module("audit", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert "select must be a list of strings" in result.stderr


def test_fix_says_so_when_there_is_nothing_to_rewrite(tmp_path: Path):
    (tmp_path / "views.py").write_text(
        "import requests\n\nasync def view(request):\n    requests.get('x', timeout=1)\n"
    )
    result = run_module("audit", ".", "--fix", cwd=tmp_path)
    assert result.stdout.startswith("--fix: nothing to rewrite under .")
    assert "LR101" in result.stdout


def test_fix_counts_its_rewrites_after_the_diff(tmp_path: Path):
    (tmp_path / "views.py").write_text("import time\n\nasync def view(request):\n    time.sleep(1)\n")
    result = run_module("audit", ".", "--fix", cwd=tmp_path)
    assert result.stdout.startswith("--- a/views.py\n+++ b/views.py\n")
    assert "--fix: 1 rewrite in 1 file." in result.stdout
    assert result.returncode == 0
