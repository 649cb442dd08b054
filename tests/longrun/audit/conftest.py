"""Helpers for the audit tests: the fixture trees, and small trees written into tmp_path."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from longrun.audit.engine import audit_path
from longrun.audit.model import Finding

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CORRECT = FIXTURES / "correct"
PLANTED = FIXTURES / "planted"
REPO = Path(__file__).resolve().parents[3]

MODELS = """
from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100)


class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, on_delete=models.CASCADE)
"""

Audit = Callable[..., list[Finding]]


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Writes ``{relative path: source}`` under root (sources dedented) and returns root."""
    for rel, source in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source).lstrip())
    return root


@pytest.fixture
def audit(tmp_path: Path) -> Audit:
    """Audits one module (``app/views.py``, beside ``app/models.py``) or a tree of files; returns its findings."""

    def run(
        source: str | None = None, *, files: dict[str, str] | None = None, rules: set[str] | None = None
    ) -> list[Finding]:
        tree = {"app/__init__.py": "", "app/models.py": MODELS, **(files or {})}
        if source is not None:
            tree["app/views.py"] = source
        write_tree(tmp_path / "project", tree)
        return audit_path(tmp_path / "project", rules)

    return run


def rules_of(findings: list[Finding]) -> list[str]:
    """The rule ids of the findings, in order."""
    return [f.rule for f in findings]
