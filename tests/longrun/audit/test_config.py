"""``[tool.longrun.audit]``: exclusions, rule selection and per-file ignores, found and checked as ruff's are."""

from __future__ import annotations

from pathlib import Path

import pytest

from longrun.audit import audit_path
from longrun.audit.config import Config, ConfigError, find_config
from tests.longrun.audit.conftest import REPO, write_tree

SLEEPY = "import time\n\nasync def tick():\n    time.sleep(1)\n"


def project(tmp_path: Path, table: str, files: dict[str, str]) -> Path:
    write_tree(tmp_path, {"pyproject.toml": f"[tool.longrun.audit]\n{table}\n", **files})
    return tmp_path


def found(root: Path) -> list[tuple[str, str]]:
    return [(f.path, f.rule) for f in audit_path(root)]


def test_without_a_table_every_rule_runs_on_every_file(tmp_path: Path):
    write_tree(tmp_path, {"pyproject.toml": "[tool.other]\nx = 1\n", "a.py": SLEEPY})
    assert find_config(tmp_path) == Config()
    assert found(tmp_path) == [("a.py", "LR102")]


def test_extend_exclude_skips_folders_and_files_by_glob(tmp_path: Path):
    root = project(
        tmp_path,
        'extend-exclude = ["legacy", "scripts/*.py"]',
        {"legacy/old.py": SLEEPY, "app/legacy/x.py": SLEEPY, "scripts/run.py": SLEEPY, "app/views.py": SLEEPY},
    )
    assert found(root) == [("app/views.py", "LR102")]


def test_exclude_replaces_the_default_folder_exclusions(tmp_path: Path):
    root = project(tmp_path, 'exclude = ["vendor"]', {"build/gen.py": SLEEPY, "vendor/lib.py": SLEEPY})
    assert found(root) == [("build/gen.py", "LR102")]


def test_a_path_given_explicitly_is_audited_even_when_excluded(tmp_path: Path):
    root = project(tmp_path, 'extend-exclude = ["fixtures"]', {"fixtures/bad/a.py": SLEEPY})
    assert found(root) == []
    assert [(f.path, f.rule) for f in audit_path(root / "fixtures" / "bad")] == [("a.py", "LR102")]


def test_select_and_ignore_choose_the_rules(tmp_path: Path):
    source = "import time\n\nasync def tick():\n    time.sleep(1)\n    open('x')\n"
    assert found(project(tmp_path / "a", 'select = ["LR103"]', {"a.py": source})) == [("a.py", "LR103")]
    assert found(project(tmp_path / "b", 'ignore = ["LR103"]', {"a.py": source})) == [("a.py", "LR102")]


def test_per_file_ignores_silence_rules_in_matching_files(tmp_path: Path):
    root = project(tmp_path, 'per-file-ignores = { "legacy/*.py" = ["LR1"] }', {"legacy/a.py": SLEEPY, "b.py": SLEEPY})
    assert found(root) == [("b.py", "LR102")]


def test_the_nearest_pyproject_with_the_table_is_used(tmp_path: Path):
    project(tmp_path, 'extend-exclude = ["app/gen"]', {"app/gen/a.py": SLEEPY, "app/b.py": SLEEPY})
    write_tree(tmp_path / "app", {"pyproject.toml": "[project]\nname = 'app'\n"})
    assert find_config(tmp_path / "app").base == tmp_path.resolve()
    assert found(tmp_path / "app") == [("b.py", "LR102")]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('exclud = ["x"]', "unknown key.*exclud"),
        ('select = "LR1"', "select must be a list of strings"),
        ('select = ["LR999"]', "Unknown rule 'LR999'"),
        ('per-file-ignores = { "a.py" = "LR101" }', "per-file-ignores must map glob patterns"),
    ],
)
def test_an_unusable_table_is_an_error_naming_the_file_and_the_key(tmp_path: Path, table: str, message: str):
    project(tmp_path, table, {})
    with pytest.raises(ConfigError, match=message) as raised:
        find_config(tmp_path)
    assert str(tmp_path / "pyproject.toml") in str(raised.value)


def test_this_repository_audits_clean_at_its_root_through_its_configuration():
    assert [f.as_dict() for f in audit_path(REPO)] == []


def test_this_repositorys_configuration_excludes_its_deliberate_examples():
    config = find_config(REPO)
    excluded = config.excluded(REPO)
    assert excluded(REPO / "tests" / "longrun" / "audit" / "fixtures" / "planted")
    assert excluded(REPO / "tests" / "legacy" / "before")
    assert not excluded(REPO / "llm_app" / "views")
