"""longrun as a user gets it: the distribution built once with ``python -m build``, and installed (not editable)
from its wheel into throwaway virtual environments, one per cell of the support matrix.

Building the wheel and the environments takes about a minute and a half from a cold cache, so both are cached
under ``$XDG_CACHE_HOME/longrun-tests/`` (``~/.cache`` by default), keyed by a hash of what goes into them: the
toolkit's source and packaging files, the cell's interpreter and requirements. A change to any of those builds
afresh; an unchanged tree reuses them, even from another checkout. The facts of each installation (what pip
did, the packages before and after) are recorded when the environment is built, and the tests read them.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SAMPLE = HERE / "sample_project"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "longrun-tests"
# A cell's environments unused for this long are removed when the cell is next used: each change to the toolkit
# makes a new one (about 150 MB). A run of another checkout touches its own when its tests start (a module takes
# minutes), so one still in use is never this old.
STALE_AFTER_S = 20 * 60
INSTALL_TIMEOUT_S = 900
COMMAND_TIMEOUT_S = 120

# What the distribution is made of: a change to any of these builds a new one.
DISTRIBUTED = ("longrun", "pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "MANIFEST.in")
# What the build is given: the repository minus version control, virtualenvs, caches, build output and run
# artifacts. The build runs on a copy because setuptools writes build/ and longrun.egg-info/ next to its
# pyproject.toml, and the working tree is shared with other runs.
BUILD_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", ".mypy_cache", ".pytest_cache", ".ruff_cache", "__pycache__", "*.pyc", "build",
    "dist", "*.egg-info", "artifacts", "results", "staticfiles", "node_modules", "*.sqlite3", "*.sqlite3-*", ".env",
)  # fmt: skip
# Variables of this test run that would leak into the cells' processes and change what they do.
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
EXTRAS = "all"


@dataclass(frozen=True)
class Cell:
    """One supported combination: an interpreter and the Django (and pins) a project already has."""

    name: str
    python: str
    requirements: tuple[str, ...]
    django_series: str | None  # the X.Y the cell's Django must be; None for the newest release


CELLS = (
    # The oldest supported pair, with the oldest asgiref longrun accepts, so that the lower bounds are tested.
    Cell("py3.10-django4.2", "3.10", ("Django>=4.2,<4.3", "asgiref==3.8.1"), "4.2"),
    Cell("py3.12-django5.2", "3.12", ("Django>=5.2,<5.3",), "5.2"),
    Cell("py3.13-django-newest", "3.13", ("Django",), None),
)


def tool_requirements() -> list[str]:
    """What each cell's project has besides Django: pytest and pytest-django at the versions this repository pins,
    the openai SDK at its pinned version, and requests (the sample project's views import it)."""
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    wanted = {"pytest", "pytest-django", "openai"}
    pinned = [
        re.sub(r"\[[^]]*\]", "", req)
        for req in groups["test"] + groups["demo"]
        if isinstance(req, str) and re.split(r"[=<>!~\[ ]", req)[0] in wanted
    ]
    return [*pinned, "requests"]


def interpreter(version: str) -> str | None:
    """An interpreter of that X.Y: pyenv's newest patch release, else ``pythonX.Y`` on PATH."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = sorted(glob.glob(str(pyenv_root / "versions" / f"{version}.*" / "bin" / f"python{version}")))
    if found:
        return found[-1]
    return shutil.which(f"python{version}")


def missing_interpreter(version: str) -> None:
    """CI must run every cell: a missing interpreter fails there, and only skips on a developer's machine."""
    message = f"Python {version} is not installed (pyenv install {version}, or apt install python{version})."
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def source_key() -> str:
    """A hash of every file that goes into the distribution."""
    parts: list[str | bytes] = []
    for name in DISTRIBUTED:
        path = ROOT / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path] if path.exists() else []
        for file in files:
            if "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            parts += [file.relative_to(ROOT).as_posix(), file.read_bytes()]
    return digest(*parts)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock between test runs (several checkouts may build the same entry at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prune(folder: Path, keep: Path, prefix: str = "") -> None:
    """Remove the entries named ``prefix...`` whose stamp has gone untouched for STALE_AFTER_S, never ``keep``."""
    now = time.time()
    for entry in folder.glob(prefix + "*"):
        stamp = entry / "done.json"
        if entry == keep or not entry.is_dir() or not stamp.exists():
            continue
        if now - stamp.stat().st_mtime > STALE_AFTER_S:
            shutil.rmtree(entry, ignore_errors=True)


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LEAKING}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return {**env, **(extra or {})}


def run_checked(args: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result.stdout


@dataclass(frozen=True)
class Distribution:
    """The wheel and the sdist of the current source, as ``python -m build`` made them."""

    wheel: Path
    sdist: Path


@pytest.fixture(scope="session")
def distribution() -> Distribution:
    """``python -m build`` on a copy of the repository (not isolated: the build tools pinned in requirements.lock)."""
    key = source_key()
    folder = CACHE / "dist" / key[:16]
    with locked(CACHE / "dist" / "lock"):
        if not (folder / "done.json").exists():
            shutil.rmtree(folder, ignore_errors=True)
            scratch = CACHE / "dist" / f"source-{os.getpid()}"
            shutil.rmtree(scratch, ignore_errors=True)
            try:
                shutil.copytree(ROOT, scratch, ignore=BUILD_IGNORE)
                run_checked(
                    [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(folder)],
                    cwd=scratch,
                    env=clean_env(),
                    timeout=INSTALL_TIMEOUT_S,
                )
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            (folder / "done.json").write_text(json.dumps({"source": key}))
        (folder / "done.json").touch()
        prune(CACHE / "dist", keep=folder)
    (wheel,) = folder.glob("*.whl")
    (sdist,) = folder.glob("*.tar.gz")
    return Distribution(wheel=wheel, sdist=sdist)


@dataclass(frozen=True)
class Venv:
    """A cell's virtual environment with longrun installed from the wheel, and what happened when it was."""

    cell: Cell
    path: Path
    facts: dict[str, Any]

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    @property
    def env(self) -> dict[str, str]:
        return clean_env(
            {"PATH": os.pathsep.join([str(self.bin), os.environ.get("PATH", "")]), "VIRTUAL_ENV": str(self.path)}
        )

    def run(self, *args: str, cwd: Path, timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """Runs the venv's python with ``args``, capturing both streams; never raises on a non-zero status."""
        return self.command(str(self.python), *args, cwd=cwd, timeout=timeout)

    def command(self, *args: str, cwd: Path, timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """Runs a program (``bin/longrun``, say), capturing both streams; never raises on a non-zero status."""
        return subprocess.run(
            list(args), cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )


def installed(python: Path, env: dict[str, str], cwd: Path) -> dict[str, str]:
    out = run_checked([str(python), "-m", "pip", "list", "--format=json"], cwd=cwd, env=env, timeout=COMMAND_TIMEOUT_S)
    return {p["name"].lower(): p["version"] for p in json.loads(out)}


def build_venv(cell: Cell, python: str, wheel: Path, folder: Path) -> None:
    """A project's environment first (Django, its tools), then longrun's base install, then its extras."""
    subprocess.run([python, "-m", "venv", str(folder)], check=True, capture_output=True, timeout=COMMAND_TIMEOUT_S)
    venv = Venv(cell, folder, {})
    env, cwd = venv.env, folder
    pip = [str(venv.python), "-m", "pip", "install", "--no-input"]
    run_checked([*pip, *cell.requirements, *tool_requirements()], cwd=cwd, env=env, timeout=INSTALL_TIMEOUT_S)
    before = installed(venv.python, env, cwd)
    base_log = run_checked([*pip, str(wheel)], cwd=cwd, env=env, timeout=INSTALL_TIMEOUT_S)
    after_base = installed(venv.python, env, cwd)
    # What the base install says about the simulator, before its extra is there.
    without_extra = venv.command(str(venv.bin / "longrun"), "simulator", "--port", "0", cwd=cwd)
    extras_log = run_checked([*pip, f"{wheel}[{EXTRAS}]"], cwd=cwd, env=env, timeout=INSTALL_TIMEOUT_S)
    after_extras = installed(venv.python, env, cwd)
    version = run_checked(
        [str(venv.python), "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"],
        cwd=cwd,
        env=env,
        timeout=COMMAND_TIMEOUT_S,
    ).strip()
    facts = {
        "python": version,
        "wheel": wheel.name,
        "before": before,
        "after_base": after_base,
        "after_extras": after_extras,
        "base_log": base_log,
        "extras_log": extras_log,
        "simulator_without_extra": {"status": without_extra.returncode, "stderr": without_extra.stderr},
    }
    (folder / "done.json").write_text(json.dumps(facts, indent=1))


@pytest.fixture(scope="module", params=CELLS, ids=[cell.name for cell in CELLS])
def venv(request: pytest.FixtureRequest, distribution: Distribution) -> Venv:
    """The cell's environment: built once per wheel and cell, then reused."""
    cell: Cell = request.param
    python = interpreter(cell.python)
    if python is None:
        missing_interpreter(cell.python)
        raise AssertionError("unreachable")
    key = digest(distribution.wheel.read_bytes(), python, repr(cell), *tool_requirements(), EXTRAS)
    folder = CACHE / "venvs" / f"{cell.name}-{key[:16]}"
    with locked(CACHE / "venvs" / f"{cell.name}.lock"):
        if not (folder / "done.json").exists():
            shutil.rmtree(folder, ignore_errors=True)
            try:
                build_venv(cell, python, distribution.wheel, folder)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        (folder / "done.json").touch()
        prune(CACHE / "venvs", keep=folder, prefix=f"{cell.name}-")
    return Venv(cell, folder, json.loads((folder / "done.json").read_text()))


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """This test's own copy of the sample project (the fix rewrites it)."""
    copy = tmp_path / "sample_project"
    shutil.copytree(SAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.sqlite3"))
    return copy
