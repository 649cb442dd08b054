"""The project's Django version, read from its pin, decides which async twins the fixes may use."""

from __future__ import annotations

from pathlib import Path

import pytest

from longrun.audit import audit_path
from longrun.audit.django_versions import DjangoRange, project_django
from longrun.audit.fix import fix_tree
from tests.longrun.audit.conftest import MODELS, write_tree

VIEW = (
    "from django.shortcuts import get_object_or_404\n\nfrom app.models import Book\n\n\n"
    "async def view(request, pk):\n    return get_object_or_404(Book, pk=pk)\n"
)


@pytest.mark.parametrize(
    ("pin", "lowest", "highest"),
    [
        ("Django==4.2.16", (4, 2), (4, 2)),
        ("django>=4.2,<5.0", (4, 2), (4, 99)),
        ("Django~=5.1.0", (5, 1), None),
        ("django[argon2]>=5.0", (5, 0), None),
    ],
)
def test_a_requirements_pin_gives_the_range(tmp_path: Path, pin: str, lowest: tuple[int, int], highest: object):
    write_tree(tmp_path, {"requirements.txt": f"requests==2\n{pin}  # the web framework\n"})
    found = project_django(tmp_path)
    assert (found.lowest, found.highest, found.source) == (lowest, highest, "requirements.txt")


def test_a_pyproject_dependency_is_read(tmp_path: Path):
    write_tree(tmp_path, {"pyproject.toml": '[project]\ndependencies = [\n  "Django>=5.0,<6",\n]\n'})
    assert project_django(tmp_path).lowest == (5, 0)


def test_a_twin_too_new_for_the_pin_is_replaced_by_sync_to_async(tmp_path: Path):
    write_tree(
        tmp_path,
        {"requirements.txt": "Django==4.2.16\n", "app/__init__.py": "", "app/models.py": MODELS, "app/views.py": VIEW},
    )
    [finding] = audit_path(tmp_path, {"LR104"})
    assert "`aget_object_or_404` needs Django 5.0+" in finding.message
    fix_tree(tmp_path, {"LR104"})
    source = (tmp_path / "app" / "views.py").read_text()
    assert "return await sync_to_async(get_object_or_404)(Book, pk=pk)" in source
    assert "from asgiref.sync import sync_to_async\n" in source
    compile(source, "views.py", "exec")


def test_a_twin_the_pin_allows_is_used(tmp_path: Path):
    write_tree(
        tmp_path,
        {"requirements.txt": "Django==5.2\n", "app/__init__.py": "", "app/models.py": MODELS, "app/views.py": VIEW},
    )
    [finding] = audit_path(tmp_path, {"LR104"})
    assert "use `await aget_object_or_404(Book, pk=pk)`." in finding.message


def test_an_unknown_range_names_both_ways():
    assert DjangoRange(None, None, "").has((5, 0)) is None
    assert DjangoRange((4, 2), (4, 99), "x").has((5, 0)) is False
    assert DjangoRange((5, 0), None, "x").has((5, 0)) is True
