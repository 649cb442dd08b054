"""The small type inference the rules rely on: QuerySets, instances and clients, and when it gives up."""

from __future__ import annotations

import ast
from pathlib import Path

from longrun.audit.analysis.context import Context
from longrun.audit.analysis.kinds import ClientKind, InstanceKind, Kind, QuerySetKind
from longrun.audit.analysis.project import load_project
from tests.longrun.audit.conftest import MODELS, write_tree


def kind_of(tmp_path: Path, body: str, name: str, module: str = "") -> Kind | None:
    """The kind of local ``name`` at the end of ``async def view(request, param)`` holding ``body``, after the
    module-level code ``module``."""
    source = f"import httpx\nfrom app.models import Book\n{module}\nasync def view(request, param):\n" + "".join(
        f"    {line}\n" for line in body.splitlines()
    )
    write_tree(tmp_path, {"app/__init__.py": "", "app/models.py": MODELS, "app/views.py": source})
    ctx = Context(load_project(tmp_path))
    fn = next(f for f in ctx.project.functions() if f.node.name == "view")
    return ctx.scope(fn).kind(ast.Name(id=name))


def test_a_manager_chain_is_a_queryset_of_its_model(tmp_path: Path):
    assert kind_of(tmp_path, "qs = Book.objects.filter(title='x').order_by('pk')", "qs") == QuerySetKind(
        "app.models.Book"
    )


def test_select_related_is_remembered_on_the_instance(tmp_path: Path):
    found = kind_of(tmp_path, "book = await Book.objects.select_related('author__x').aget(pk=1)", "book")
    assert found == InstanceKind("app.models.Book", frozenset({"author"}))


def test_a_constructed_client_is_a_client_of_its_class(tmp_path: Path):
    assert kind_of(tmp_path, "client = httpx.Client(timeout=5)", "client") == ClientKind("httpx.Client")


def test_a_name_assigned_two_different_kinds_is_unknown(tmp_path: Path):
    assert kind_of(tmp_path, "x = Book.objects.all()\nx = [1]", "x") is None


def test_a_reassigned_parameter_is_unknown(tmp_path: Path):
    assert kind_of(tmp_path, "param = Book.objects.all()", "param") is None


def test_a_client_returned_by_a_module_level_helper_is_a_client_of_its_class(tmp_path: Path):
    helper = "def make():\n    return httpx.Client(timeout=5)\n"
    assert kind_of(tmp_path, "client = make()", "client", helper) == ClientKind("httpx.Client")


def test_an_async_client_returned_by_a_cached_helper_is_not_sync(tmp_path: Path):
    helper = "import functools\n@functools.cache\ndef make():\n    return httpx.AsyncClient(timeout=5)\n"
    found = kind_of(tmp_path, "client = make()", "client", helper)
    assert found == ClientKind("httpx.AsyncClient") and not found.is_sync


def test_a_helper_returning_something_else_on_one_path_is_unknown(tmp_path: Path):
    helper = "def make(flag):\n    if flag:\n        return flag\n    return httpx.Client(timeout=5)\n"
    assert kind_of(tmp_path, "client = make(param)", "client", helper) is None


def test_a_helper_returning_none_on_its_failure_path_returns_the_kind_of_its_other_returns(tmp_path: Path):
    helper = "def make(flag):\n    if flag:\n        return None\n    return httpx.Client(timeout=5)\n"
    assert kind_of(tmp_path, "client = make(param)", "client", helper) == ClientKind("httpx.Client")


def test_a_client_returned_two_levels_down_is_a_client_of_its_class(tmp_path: Path):
    helper = "def build():\n    return httpx.Client(timeout=5)\n\ndef make():\n    return build()\n"
    assert kind_of(tmp_path, "client = make()", "client", helper) == ClientKind("httpx.Client")
