"""Reading a settings module as source: the candidate values of each setting, never running it."""

from __future__ import annotations

from pathlib import Path

from longrun.audit.analysis.project import load_project
from longrun.audit.settings_source import UNKNOWN, read_settings, settings_modules
from tests.longrun.audit.conftest import write_tree


def values(tmp_path: Path, source: str, name: str, **files: str) -> list[object]:
    """The candidate values of ``name`` in conf/settings.py holding ``source``."""
    write_tree(tmp_path, {"conf/__init__.py": "", "conf/settings.py": source, **files})
    project = load_project(tmp_path)
    return [c.value for c in read_settings(project, project.by_name["conf.settings"]).get(name, [])]


def test_literals_lists_and_dicts_are_read(tmp_path: Path):
    assert values(tmp_path, 'X = {"a": [1, "b"], "c": None}\n', "X") == [{"a": [1, "b"], "c": None}]


def test_both_branches_of_an_if_are_candidates(tmp_path: Path):
    assert values(tmp_path, "import os\nif os.environ.get('P'):\n    X = 1\nelse:\n    X = 2\n", "X") == [1, 2]


def test_a_value_from_the_environment_is_unknown(tmp_path: Path):
    assert values(tmp_path, "import os\nX = os.environ['X']\n", "X") == [UNKNOWN]


def test_appends_and_additions_to_a_list_are_applied(tmp_path: Path):
    source = 'M = ["a"]\nM.append("b")\nM += ["c"]\nM.insert(0, "z")\n'
    assert values(tmp_path, source, "M") == [["z", "a", "b", "c"]]


def test_a_star_import_brings_the_base_modules_values(tmp_path: Path):
    assert values(tmp_path, "from .base import *\nY = X + [2]\n", "Y", **{"conf/base.py": "X = [1]\n"}) == [[1, 2]]


def test_strings_remember_where_they_were_written(tmp_path: Path):
    [entries] = values(tmp_path, 'M = [\n    "a",\n]\n', "M")
    assert (entries[0].path, entries[0].line) == ("conf/settings.py", 2)


def test_the_settings_module_is_the_one_manage_py_names(tmp_path: Path):
    write_tree(
        tmp_path,
        {
            "manage.py": 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "conf.prod")\n',
            "conf/__init__.py": "",
            "conf/prod.py": "",
            "conf/settings.py": "",
        },
    )
    assert [m.name for m in settings_modules(load_project(tmp_path))] == ["conf.prod"]
