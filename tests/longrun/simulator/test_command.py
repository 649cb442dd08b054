"""``manage.py llm_simulator``: prints its listening line, serves, and exits cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LISTENING = re.compile(r"^LLM simulator listening on (http://127\.0\.0\.1:(\d+)/v1)\n$")


@pytest.fixture
def command() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "manage.py", "llm_simulator", "--host", "127.0.0.1", "--port", "0", "--tokens", "3"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings_test"},
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.communicate()


def test_the_command_prints_its_listening_line_with_the_real_port(command: subprocess.Popen[str]) -> None:
    assert command.stdout is not None
    match = LISTENING.match(command.stdout.readline())
    assert match is not None
    assert int(match.group(2)) > 0


def test_the_command_serves_the_url_it_printed(command: subprocess.Popen[str]) -> None:
    assert command.stdout is not None
    match = LISTENING.match(command.stdout.readline())
    assert match is not None
    with urllib.request.urlopen(match.group(1) + "/models", timeout=10) as response:
        assert json.load(response)["object"] == "list"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_command_exits_cleanly_on_a_signal_with_nothing_more_on_stdout(
    command: subprocess.Popen[str], signum: int
) -> None:
    assert command.stdout is not None
    assert LISTENING.match(command.stdout.readline())
    command.send_signal(signum)
    stdout, stderr = command.communicate(timeout=30)
    assert command.returncode == 0, stderr
    assert stdout == ""


def test_the_command_refuses_an_out_of_range_flag() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "llm_simulator", "--port", "0", "--tokens", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings_test"},
    )
    assert result.returncode != 0
    assert "tokens must be between 1" in result.stderr
