"""The base install and the extras: the audit, the checks and the bridges import without any extra, and each part
that needs one says which extra to install.

Each case runs in a fresh interpreter where the extras' packages are made unimportable (``sys.modules[name] =
None``), as in an environment where longrun was installed without them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from longrun.extras import MissingExtra

ROOT = Path(__file__).resolve().parents[2]
EXTRA_PACKAGES = ("libcst", "blockbuster", "forbiddenfruit", "aiohttp", "psutil", "websockets")


def run_without_extras(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    prelude = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in EXTRA_PACKAGES)
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PYTEST_ADDOPTS"}}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-c", prelude + code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_base_install_imports_the_audit_the_checks_the_bridges_and_the_hooks_without_any_extra():
    modules = [
        "longrun.apps",
        "longrun.audit.cli",
        "longrun.audit.engine",
        "longrun.bridges",
        "longrun.checks",
        "longrun.detector",
        "longrun.detector.asgi",
        "longrun.detector.django",
        "longrun.detector.pytest_plugin",
        "longrun.management.commands.asgi_audit",
        "longrun.management.commands.llm_simulator",
        "longrun.simulator",
        "longrun.simulator.config",
    ]
    result = run_without_extras("import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("code", "extra", "requirement"),
    [
        ("from longrun.detector import BlockingDetector", "detector", "blockbuster"),
        ("from longrun.simulator import SimulatorProcess", "simulator", "aiohttp"),
        ("import longrun.loadgen", "loadgen", "aiohttp"),
        # Only psutil missing: aiohttp alone (from the [simulator] extra) does not make the sampler work.
        ("del sys.modules['aiohttp']\nimport longrun.loadgen.procstats", "loadgen", "psutil"),
    ],
)
def test_a_part_used_without_its_extra_raises_missing_extra_naming_it(code: str, extra: str, requirement: str):
    result = run_without_extras(code)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("longrun.extras.MissingExtra: "), result.stderr
    assert f"needs {requirement}, which comes with the [{extra}] extra of longrun" in last
    assert f'pip install "longrun[{extra}] @ ' in last


def test_the_message_gives_the_requirement_with_the_versions_longrun_declares():
    error = MissingExtra("The blocking detector", "detector", "blockbuster")
    assert 'pip install "blockbuster<2,>=1.5.29"' in str(error)
    assert isinstance(error, ImportError) and error.name == "blockbuster"


def test_the_simulator_command_without_its_extra_exits_2_naming_it():
    result = run_without_extras("from longrun.__main__ import main\nsys.exit(main(['simulator', '--port', '0']))")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "longrun simulator: error: The LLM simulator (longrun.simulator) needs aiohttp" in result.stderr
    assert "[simulator] extra" in result.stderr


def test_audit_fix_without_its_extra_exits_2_naming_it(tmp_path: Path):
    (tmp_path / "views.py").write_text("import time\n\n\nasync def view(request):\n    time.sleep(1)\n")
    code = f"from longrun.__main__ import main\nsys.exit(main(['audit', {str(tmp_path)!r}, '--fix']))"
    result = run_without_extras(code)
    assert result.returncode == 2
    assert "--fix needs libcst, which comes with the [fix] extra of longrun" in result.stderr
    assert "time.sleep" in (tmp_path / "views.py").read_text()


def test_pytest_runs_with_the_plugin_loaded_and_no_detector_extra(tmp_path: Path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    result = run_without_extras("import pytest\nsys.exit(pytest.main(['-q', '-p', 'no:cacheprovider']))", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_detector_flag_without_its_extra_stops_pytest_at_start_naming_it(tmp_path: Path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    code = "import pytest\nsys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '--longrun-detect-blocking']))"
    result = run_without_extras(code, tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage error
    assert "--longrun-detect-blocking / longrun_detect_blocking: The blocking detector" in result.stderr
    assert "[detector] extra" in result.stderr
