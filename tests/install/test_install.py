"""The package as a user gets it: built and installed with pip into a throwaway virtual environment, beside a
tiny sample project (``sample_project/``), and its commands run there.

The environment is made once per module from the interpreter running these tests; each test audits (or fixes)
its own copy of the sample project, so nothing is ever written into the repository.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SAMPLE = HERE / "sample_project"

# What the build is given: the repository minus version control, virtualenvs, caches, build output and run
# artifacts. The build runs on a copy because setuptools writes build/ and longrun.egg-info/ next to its
# pyproject.toml, and the working tree is shared with other runs.
BUILD_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "__pycache__",
    "*.pyc",
    "build",
    "dist",
    "*.egg-info",
    "artifacts",
    "results",
    "staticfiles",
    "node_modules",
    "*.sqlite3",
    "*.sqlite3-*",
    ".env",
)
# Variables of this test run that would leak into the sample project's processes and change what they do.
LEAKING = frozenset(
    {
        "DJANGO_SETTINGS_MODULE",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONSTARTUP",
        "VIRTUAL_ENV",
        "PYTEST_ADDOPTS",
        "PYTEST_PLUGINS",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
        "PYTEST_CURRENT_TEST",
        "PYTEST_VERSION",
    }
)
INSTALL_TIMEOUT_S = 900
COMMAND_TIMEOUT_S = 120
LISTENING = re.compile(r"LLM simulator listening on (http://127\.0\.0\.1:(\d+)/v1)")

# What the sample project gets wrong on purpose, as the audit reports it: (rule, path).
PLANTED = {
    ("LR401", "shop/settings.py"),  # sync-only function middleware
    ("LR403", "shop/settings.py"),  # CONN_MAX_AGE = 60 with ASGI_APPLICATION
    ("LR102", "shop/views.py"),  # time.sleep in an async view
    ("LR101", "shop/views.py"),  # requests.get in an async view
    ("LR204", "shop/views.py"),  # requests.get without a timeout
}
JSON_KEYS = ["rule", "severity", "path", "line", "message", "fix"]


def base_python() -> str:
    """The interpreter the running one was made from (itself when it is not a virtualenv's)."""
    base = getattr(sys, "_base_executable", None)
    if base and Path(base).is_file():
        return str(base)
    bindir = Path(sys.base_prefix) / ("" if os.name == "nt" else "bin")
    for name in (f"python{sys.version_info.major}.{sys.version_info.minor}", "python3", "python", "python.exe"):
        if (bindir / name).is_file():
            return str(bindir / name)
    return sys.executable


def plugin_requirements() -> list[str]:
    """pytest and pytest-django at the versions this repository's own tests pin (its `test` dependency group)."""
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    wanted = {"pytest", "pytest-django"}
    return [req for req in groups["test"] if isinstance(req, str) and re.split(r"[=<>!~\[ ]", req)[0] in wanted]


@dataclass(frozen=True)
class Venv:
    """The throwaway virtual environment, with longrun installed the way a user installs it."""

    path: Path
    python: Path
    env: dict[str, str]

    def run(self, *args: str, cwd: Path, timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """Runs the venv's python with args, capturing both streams; never raises on a non-zero status."""
        return subprocess.run(
            [str(self.python), *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def venv_env(venv: Path, bindir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LEAKING}
    env["PATH"] = os.pathsep.join([str(bindir), env.get("PATH", "")])
    env["VIRTUAL_ENV"] = str(venv)
    env["PYTHONUNBUFFERED"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh venv from the same Python, with this repository pip-installed (not editable) plus what the sample
    project and the plugin tests use: requests, pytest, pytest-django. Dependencies resolve like a user's would."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=BUILD_IGNORE)
    path = base / "venv"
    subprocess.run([base_python(), "-m", "venv", str(path)], check=True, capture_output=True, timeout=COMMAND_TIMEOUT_S)
    bindir = path / ("Scripts" if os.name == "nt" else "bin")
    made = Venv(path, bindir / ("python.exe" if os.name == "nt" else "python"), venv_env(path, bindir))
    installed = made.run(
        "-m",
        "pip",
        "install",
        "--no-input",
        str(source),
        "requests",
        *plugin_requirements(),
        cwd=base,
        timeout=INSTALL_TIMEOUT_S,
    )
    if installed.returncode != 0:
        pytest.fail(f"pip install of the repository failed:\n{installed.stdout[-4000:]}\n{installed.stderr[-4000:]}")
    return made


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """This test's own copy of the sample project (the fix rewrites it)."""
    copy = tmp_path / "sample_project"
    shutil.copytree(SAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.sqlite3"))
    return copy


def installed_package(venv: Venv, cwd: Path) -> Path:
    found = venv.run("-c", "import longrun; print(longrun.__file__)", cwd=cwd)
    assert found.returncode == 0, found.stderr
    return Path(found.stdout.strip()).parent


def audit_json(venv: Venv, sample: Path, *options: str) -> tuple[int, list[dict[str, object]]]:
    result = venv.run("manage.py", "asgi_audit", "--format", "json", *options, cwd=sample)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_longrun_is_imported_from_the_virtual_environment_not_from_the_repository(venv: Venv, sample: Path):
    package = installed_package(venv, sample)
    assert package.is_relative_to(venv.path)
    assert "site-packages" in package.parts


def test_the_installed_package_has_every_module_of_the_source_tree_and_py_typed(venv: Venv, sample: Path):
    def files(package: Path) -> set[str]:
        return {
            p.relative_to(package).as_posix()
            for p in package.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        }

    shipped = files(installed_package(venv, sample))
    assert files(ROOT / "longrun") - shipped == set()
    assert "py.typed" in shipped


def test_asgi_audit_json_reports_the_planted_problems_and_exits_1(venv: Venv, sample: Path):
    status, findings = audit_json(venv, sample)
    assert status == 1
    assert {(f["rule"], f["path"]) for f in findings} == PLANTED
    assert all(list(f) == JSON_KEYS for f in findings)
    assert {f["severity"] for f in findings} == {"error", "warning"}
    assert all(isinstance(f["line"], int) and f["line"] > 0 for f in findings)


def test_asgi_audit_fix_turns_time_sleep_into_await_asyncio_sleep_and_the_re_audit_drops_lr102(
    venv: Venv, sample: Path
):
    fixed = venv.run("manage.py", "asgi_audit", "--select", "LR102", "--fix", cwd=sample)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "+    await asyncio.sleep(0.5)  # let the upstream cache warm up" in fixed.stdout
    source = (sample / "shop" / "views.py").read_text()
    assert "    await asyncio.sleep(0.5)  # let the upstream cache warm up\n" in source
    assert "import asyncio\n" in source
    assert "time.sleep" not in source
    _, after = audit_json(venv, sample)
    assert {(f["rule"], f["path"]) for f in after} == PLANTED - {("LR102", "shop/views.py")}


def test_check_tag_async_reports_the_settings_findings_with_their_ids(venv: Venv, sample: Path):
    checked = venv.run("manage.py", "check", "--tag", "async", cwd=sample)
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output  # warnings do not fail `check`
    assert "(longrun.LR403)" in output
    assert "CONN_MAX_AGE=60" in output
    assert "(longrun.LR401)" in output
    assert "shop.middleware.timing_middleware" in output


def test_python_m_longrun_audit_runs_with_no_django_settings(venv: Venv, sample: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert "DJANGO_SETTINGS_MODULE" not in venv.env
    audited = venv.run("-m", "longrun", "audit", str(sample), cwd=elsewhere)
    assert audited.returncode == 1, audited.stderr
    for rule, path in PLANTED:
        assert re.search(rf"^{re.escape(path)}:\d+: {rule} ", audited.stdout, re.MULTILINE), audited.stdout
    assert "5 findings (2 errors, 3 warnings)." in audited.stdout


@pytest.fixture
def simulator(venv: Venv, sample: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``manage.py llm_simulator --port 0`` running in the sample project, and its first stdout line."""
    process = subprocess.Popen(
        [str(venv.python), "manage.py", "llm_simulator", "--port", "0"],
        cwd=sample,
        env=venv.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        yield process, process.stdout.readline() if ready else ""
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        process.stdout.close()
        process.stderr.close()


def test_llm_simulator_prints_its_listening_line_and_serves_there(simulator: tuple[subprocess.Popen[str], str]):
    process, line = simulator
    match = LISTENING.search(line)
    assert match, f"first line {line!r}; exit status {process.poll()}"
    assert int(match.group(2)) > 0
    with urllib.request.urlopen(match.group(1) + "/models", timeout=10) as reply:
        assert reply.status == 200


def test_the_pytest_plugin_is_registered_by_its_entry_point(venv: Venv, tmp_path: Path):
    helped = venv.run("-m", "pytest", "--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "--longrun-detect-blocking" in helped.stdout


def test_the_detect_blocking_flag_fails_a_test_that_sleeps_on_the_event_loop(venv: Venv, tmp_path: Path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_nap.py").write_text(
        "import asyncio\nimport time\n\n\nasync def nap():\n    time.sleep(0.01)\n\n\n"
        "def test_naps_on_the_loop():\n    asyncio.run(nap())\n"
    )
    plain = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=tmp_path)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    detected = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", "--longrun-detect-blocking", cwd=tmp_path)
    assert detected.returncode == 1, detected.stdout + detected.stderr
    assert "BlockingCallError" in detected.stdout
    assert "test_nap.py:6" in detected.stdout
