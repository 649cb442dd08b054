"""The ``longrun`` console script and ``python -m longrun``: the commands that need no Django project."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("longrun")
LEGACY = ROOT / "tests" / "legacy" / "before"


def run(*args: str, cwd: Path, script: bool = True) -> subprocess.CompletedProcess[str]:
    # No DJANGO_SETTINGS_MODULE, and a working directory outside the repository: no Django project at all.
    command = [str(SCRIPT)] if script else [sys.executable, "-m", "longrun"]
    return subprocess.run([*command, *args], cwd=cwd, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True)


def test_the_console_script_is_installed_beside_the_interpreter():
    assert SCRIPT.is_file()


def test_help_lists_the_commands(tmp_path: Path):
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: longrun COMMAND [ARGS ...]")
    assert re.search(r"^  audit +read a Django source tree", result.stdout, re.MULTILINE)
    assert re.search(r"^  simulator +serve the OpenAI-compatible LLM simulator", result.stdout, re.MULTILINE)


def test_version_prints_the_installed_version(tmp_path: Path):
    result = run("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"longrun \d+\.\d+\.\d+\S*\n", result.stdout)


@pytest.mark.parametrize("script", [True, False], ids=["longrun", "python -m longrun"])
def test_no_command_exits_2_with_the_usage(tmp_path: Path, script: bool):
    result = run(cwd=tmp_path, script=script)
    prog = "longrun" if script else "python -m longrun"
    assert result.returncode == 2
    assert result.stderr.startswith(f"usage: {prog} COMMAND")
    assert f"{prog}: error: a command is required: choose one of audit, simulator." in result.stderr


def test_the_script_audits_like_python_m_longrun(tmp_path: Path):
    by_script = run("audit", str(LEGACY), "--format", "json", cwd=tmp_path)
    by_module = run("audit", str(LEGACY), "--format", "json", cwd=tmp_path, script=False)
    assert by_script.returncode == by_module.returncode == 1, by_script.stderr
    assert by_script.stdout == by_module.stdout
    assert '"rule": "LR201"' in by_script.stdout


def test_the_simulator_command_prints_its_listening_line_and_serves(tmp_path: Path):
    process = subprocess.Popen(
        [str(SCRIPT), "simulator", "--port", "0", "--tokens", "3"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.fullmatch(r"LLM simulator listening on (http://127\.0\.0\.1:\d+/v1)\n", line)
        assert match, line
        with urllib.request.urlopen(match.group(1) + "/models", timeout=10) as reply:
            assert reply.status == 200
    finally:
        process.terminate()
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert stdout == ""


def test_the_simulator_command_refuses_a_bad_value_with_its_usage(tmp_path: Path):
    result = run("simulator", "--tokens", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: longrun simulator" in result.stderr
    assert "longrun simulator: error: tokens must be between 1 and 100000, got 0" in result.stderr
