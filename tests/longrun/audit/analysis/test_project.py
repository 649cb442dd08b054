"""Reading the tree: which files, what their names are, how names resolve."""

from __future__ import annotations

import ast
from pathlib import Path

from longrun.audit.analysis.project import load_project, python_files
from tests.longrun.audit.conftest import write_tree


def test_virtualenvs_hidden_folders_migrations_and_tests_are_skipped(tmp_path: Path):
    write_tree(
        tmp_path,
        {
            "app/views.py": "",
            "app/migrations/0001_initial.py": "",
            ".venv/lib/x.py": "",
            "env2/pyvenv.cfg": "",
            "env2/lib/site.py": "",
            "node_modules/x.py": "",
            "app/tests.py": "",
            "app/test_views.py": "",
            "app/conftest.py": "",
            "tests/views.py": "",
        },
    )
    assert [p.relative_to(tmp_path).as_posix() for p in python_files(tmp_path)] == ["app/views.py"]


def test_an_exclude_setting_replaces_the_default_exclusions_of_test_modules_too(tmp_path: Path):
    write_tree(tmp_path, {"app/views.py": "", "app/tests.py": "", "tests/test_x.py": ""})
    found = [p.relative_to(tmp_path).as_posix() for p in python_files(tmp_path, skip_dirs=frozenset())]
    assert found == ["app/tests.py", "app/views.py", "tests/test_x.py"]


def test_modules_inside_a_package_are_named_as_their_imports_name_them(tmp_path: Path):
    write_tree(tmp_path, {"site/__init__.py": "", "site/app/__init__.py": "", "site/app/views.py": ""})
    project = load_project(tmp_path / "site" / "app")
    assert sorted(project.by_name) == ["site.app", "site.app.views"]
    assert project.by_name["site.app.views"].rel == "views.py"


def test_relative_imports_resolve_to_qualified_names(tmp_path: Path):
    write_tree(tmp_path, {"app/__init__.py": "", "app/views.py": "from .models import Book\nfrom . import models\n"})
    module = load_project(tmp_path).by_name["app.views"]
    assert module.imports == {"Book": "app.models.Book", "models": "app.models"}


def test_a_call_through_an_import_alias_qualifies_to_its_real_name(tmp_path: Path):
    write_tree(tmp_path, {"m.py": "import time as t\n"})
    module = load_project(tmp_path).by_name["m"]
    call = ast.parse("t.sleep(1)").body[0].value  # type: ignore[attr-defined]
    assert module.qualify(call.func) == "time.sleep"


def test_a_single_file_can_be_audited(tmp_path: Path):
    write_tree(tmp_path, {"one.py": "x = 1\n"})
    project = load_project(tmp_path / "one.py")
    assert [m.rel for m in project.modules] == ["one.py"]
