"""The toolkit and the demo type-check under mypy --strict with django-stubs (config in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # about 20 s without mypy's cache
def test_mypy_strict_finds_no_errors():
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_toolkit_type_checks_for_its_oldest_python_so_it_uses_nothing_newer():
    # Typeshed knows which stdlib names each version has: PEP 695 syntax, typing.Self, asyncio.timeout,
    # enum.StrEnum, Task.cancelling() or code.co_qualname in longrun/ fail here (the demo needs 3.12 anyway).
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--python-version", "3.10", "longrun"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
