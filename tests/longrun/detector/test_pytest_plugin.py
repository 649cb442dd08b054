"""Behaviour of longrun.detector.pytest_plugin, run on a small test file in a separate pytest process.

Each run's outcomes are read from its JUnit XML report; one run per configuration serves several tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

INNER_TESTS = """
import asyncio
import time

import pytest


async def test_sleeps_on_the_loop():
    time.sleep(0)


async def test_swallows_the_error():
    try:
        time.sleep(0)
    except Exception:
        pass


def test_sleeps_without_a_loop():
    time.sleep(0)


@pytest.mark.allow_blocking
async def test_is_allowed_to_block():
    time.sleep(0)


async def test_awaits_instead():
    await asyncio.sleep(0)


@pytest.fixture
async def blocking_fixture():
    time.sleep(0)
    yield


async def test_uses_a_blocking_fixture(blocking_fixture):
    pass


async def test_asks_for_no_blocking(no_blocking):
    time.sleep(0)
"""


@dataclass(frozen=True)
class Run:
    """The outcome of each inner test ("passed", "failed" or "error") and the message of each failure."""

    outcomes: dict[str, str]
    messages: dict[str, str]


def run_inner_pytest(directory: Path, *options: str, ini: str = "") -> Run:
    (directory / "test_inner.py").write_text(INNER_TESTS)
    (directory / "pytest.ini").write_text(
        f"[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n{ini}"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    # Only the plugins named here: the same whether or not the package (and its pytest11 entry point) is installed.
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "longrun.detector.pytest_plugin",
            "-p",
            "pytest_asyncio.plugin",
            "-p",
            "no:cacheprovider",
            "--junitxml=report.xml",
            "-q",
            *options,
        ],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    outcomes: dict[str, str] = {}
    messages: dict[str, str] = {}
    for case in ET.parse(directory / "report.xml").iter("testcase"):
        name = case.attrib["name"]
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        outcomes[name] = "passed" if problem is None else problem.tag.replace("failure", "failed")
        if problem is not None:
            messages[name] = problem.attrib.get("message", "") + (problem.text or "")
    return Run(outcomes, messages)


@pytest.fixture(scope="module")
def with_flag(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_inner_pytest(tmp_path_factory.mktemp("flag"), "--longrun-detect-blocking")


@pytest.fixture(scope="module")
def without_flag(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_inner_pytest(tmp_path_factory.mktemp("plain"))


@pytest.fixture(scope="module")
def with_ini(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_inner_pytest(tmp_path_factory.mktemp("ini"), ini="longrun_detect_blocking = true\n")


def test_the_flag_fails_an_async_test_that_blocks_the_loop(with_flag: Run):
    assert with_flag.outcomes["test_sleeps_on_the_loop"] == "failed"


def test_the_failure_names_the_tests_line_and_the_fix(with_flag: Run):
    message = with_flag.messages["test_sleeps_on_the_loop"]
    assert "Blocking call to time.sleep inside the event loop, from test_inner.py:" in message
    assert "use `await asyncio.sleep" in message


def test_the_flag_fails_a_test_whose_code_swallowed_the_error(with_flag: Run):
    assert with_flag.outcomes["test_swallows_the_error"] == "failed"
    assert "was caught by the code under test" in with_flag.messages["test_swallows_the_error"]


def test_the_flag_fails_the_setup_of_a_blocking_async_fixture(with_flag: Run):
    assert with_flag.outcomes["test_uses_a_blocking_fixture"] == "error"


def test_the_flag_leaves_sync_tests_alone(with_flag: Run):
    assert with_flag.outcomes["test_sleeps_without_a_loop"] == "passed"


def test_the_flag_passes_an_async_test_that_awaits(with_flag: Run):
    assert with_flag.outcomes["test_awaits_instead"] == "passed"


def test_the_allow_blocking_marker_exempts_a_test(with_flag: Run):
    assert with_flag.outcomes["test_is_allowed_to_block"] == "passed"


def test_without_the_flag_blocking_tests_pass(without_flag: Run):
    assert without_flag.outcomes["test_sleeps_on_the_loop"] == "passed"


def test_the_no_blocking_fixture_checks_its_test_without_the_flag(without_flag: Run):
    assert without_flag.outcomes["test_asks_for_no_blocking"] == "failed"


def test_the_ini_option_turns_the_detector_on(with_ini: Run):
    assert with_ini.outcomes["test_sleeps_on_the_loop"] == "failed"
