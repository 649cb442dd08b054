"""What ``python -m build`` makes of the repository: a wheel and an sdist of the toolkit alone, with the metadata that
tells pip and PyPI what it supports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tests.install.conftest import CELLS, COMMAND_TIMEOUT_S, ROOT, Distribution, clean_env

pytestmark = pytest.mark.install

VERSION_DIR = re.compile(r"^longrun-[^/]+\.dist-info/")


def source_files() -> set[str]:
    """Every file of the toolkit's source tree, as a path inside the distribution."""
    return {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "longrun").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


def wheel_names(distribution: Distribution) -> set[str]:
    with zipfile.ZipFile(distribution.wheel) as wheel:
        return set(wheel.namelist())


def metadata(distribution: Distribution) -> Parser:
    with zipfile.ZipFile(distribution.wheel) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(wheel.read(name).decode())  # type: ignore[return-value]


def test_the_wheel_holds_the_toolkit_and_its_metadata_and_nothing_else(distribution: Distribution):
    names = wheel_names(distribution)
    package = {n for n in names if not VERSION_DIR.match(n)}
    assert package == source_files()
    assert "longrun/py.typed" in package
    assert {n.split("/", 1)[1] for n in names - package} == {
        "METADATA",
        "WHEEL",
        "RECORD",
        "top_level.txt",
        "entry_points.txt",
        "licenses/LICENSE",
    }


def test_the_sdist_holds_the_toolkit_its_packaging_files_and_nothing_of_the_demo(distribution: Distribution):
    with tarfile.open(distribution.sdist) as sdist:
        names = {m.name.split("/", 1)[1] for m in sdist.getmembers() if m.isfile()}
    assert {n for n in names if n.startswith("longrun/")} == source_files()
    others = {n for n in names if not n.startswith(("longrun/", "longrun.egg-info/"))}
    assert others == {"PKG-INFO", "pyproject.toml", "setup.cfg", "MANIFEST.in", "README.md", "LICENSE", "CHANGELOG.md"}
    assert not any(n.startswith(("tests/", "project/", "llm_app/", "benchmarks/", "docs/")) for n in names)


def test_the_metadata_declares_the_supported_pythons_and_djangos(distribution: Distribution):
    meta = metadata(distribution)
    assert meta["Requires-Python"] == ">=3.10"
    requires = meta.get_all("Requires-Dist")
    assert "Django<7,>=4.2" in requires
    classifiers = meta.get_all("Classifier")
    for series in ("4.2", "5.2", "6.0", "6.1"):
        assert f"Framework :: Django :: {series}" in classifiers
    tested_pythons = {cell.python for cell in CELLS}
    declared_pythons = {
        c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    assert tested_pythons <= declared_pythons == {"3.10", "3.11", "3.12", "3.13"}
    assert "Typing :: Typed" in classifiers


def test_each_extra_brings_what_its_part_needs_and_the_base_install_none_of_it(distribution: Distribution):
    meta = metadata(distribution)
    assert set(meta.get_all("Provides-Extra")) == {"fix", "detector", "simulator", "loadgen", "all"}
    by_extra: dict[str, set[str]] = {}
    base = set()
    for requirement in meta.get_all("Requires-Dist"):
        spec, _, marker = requirement.partition(";")
        name = re.split(r"[<>=!~\[ ]", spec.strip())[0]
        extra = re.search(r'extra == "(\w+)"', marker)
        (by_extra.setdefault(extra.group(1), set()) if extra else base).add(name)
    assert base == {"Django", "asgiref", "tomli"}
    assert 'tomli>=1.1; python_version < "3.11"' in meta.get_all("Requires-Dist")  # tomllib's backport, for 3.10
    assert by_extra["fix"] == {"libcst"}
    assert by_extra["detector"] == {"blockbuster"}
    assert by_extra["simulator"] == {"aiohttp"}
    assert by_extra["loadgen"] == {"aiohttp", "psutil", "websockets"}


def test_the_license_file_is_the_license_the_metadata_declares(distribution: Distribution):
    meta = metadata(distribution)
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert "Permission is hereby granted, free of charge, to any person obtaining a copy" in text


def test_the_console_script_and_the_pytest_plugin_are_declared_entry_points(distribution: Distribution):
    with zipfile.ZipFile(distribution.wheel) as wheel:
        (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
        entry_points = wheel.read(name).decode()
    assert "[console_scripts]\nlongrun = longrun.__main__:main\n" in entry_points
    assert "[pytest11]\nlongrun = longrun.detector.pytest_plugin\n" in entry_points


def test_the_changelog_has_an_entry_for_the_version_being_built(distribution: Distribution):
    version = metadata(distribution)["Version"]
    assert re.search(rf"^## {re.escape(version)} ", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert Path(distribution.wheel).name == f"longrun-{version}-py3-none-any.whl"


@pytest.mark.parametrize("form", ["git", "path"])
def test_pip_takes_the_git_url_and_path_lines_of_the_readme_with_their_extras(form: str, tmp_path: Path):
    # The README's lines with this repository as the clone (`git+file://`: its committed HEAD) and as the checkout.
    target = f"longrun[detector,simulator] @ git+file://{ROOT}" if form == "git" else f"{ROOT}[detector,simulator]"
    report = tmp_path / "report.json"
    resolved = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--quiet", "--report", str(report), target],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    assert resolved.returncode == 0, resolved.stderr
    (item,) = json.loads(report.read_text())["install"]
    assert (item["metadata"]["name"], item["requested_extras"]) == ("longrun", ["detector", "simulator"])
    assert item["metadata"]["requires_python"] == ">=3.10"
