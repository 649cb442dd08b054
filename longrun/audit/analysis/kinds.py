"""What an expression holds, as far as the rules care: a QuerySet, a model instance, an SDK client (or what its
methods hand back), or an object of one of the project's own classes. Anything else is unknown (None), and the
rules stay quiet about unknowns rather than guess.

This module holds the kinds and what the project's models say about their relations; ``scope`` infers them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from longrun.audit import known_apis
from longrun.audit.analysis.project import Module, Project


@dataclass(frozen=True, slots=True)
class QuerySetKind:
    """A QuerySet (or manager) of ``model``; ``related`` is what select/prefetch_related loaded (None: all)."""

    model: str
    related: frozenset[str] | None = frozenset()


@dataclass(frozen=True, slots=True)
class InstanceKind:
    """A model instance fetched from a QuerySet, with the relations that query loaded (None: all)."""

    model: str
    related: frozenset[str] | None = frozenset()


@dataclass(frozen=True, slots=True)
class ClientKind:
    """An object of a known API: a ``known_apis.CLIENTS`` entry, or (``family`` set) an object of a package family
    such as LangChain, whose class is ``cls``; ``local`` family objects (prompts, parsers) call no network."""

    api: str
    family: str = ""
    cls: str = ""
    local: bool = False

    @property
    def entry(self) -> known_apis.Client | None:
        return known_apis.CLIENTS.get(self.api) if not self.family else None

    @property
    def is_sync(self) -> bool:
        entry = self.entry
        return entry.sync if entry is not None else not self.local

    @property
    def llm(self) -> bool:
        entry = self.entry
        return entry.llm if entry is not None else not self.local

    @property
    def label(self) -> str:
        """How messages name it: ``openai.OpenAI``, ``langchain_groq.ChatGroq``."""
        return self.cls or self.api


@dataclass(frozen=True, slots=True)
class ObjectKind:
    """An object of one of the project's own classes (several when a name may hold either)."""

    classes: frozenset[str]


Kind = QuerySetKind | InstanceKind | ClientKind | ObjectKind


def merge(kinds: set[Kind]) -> Kind | None:
    """One kind for a name given several values: the kind they share, objects of any of their classes, else None."""
    if len(kinds) == 1:
        return next(iter(kinds))
    if kinds and all(isinstance(k, ObjectKind) for k in kinds):
        return ObjectKind(frozenset(c for k in kinds if isinstance(k, ObjectKind) for c in k.classes))
    return None


RELATION_FIELDS = ("ForeignKey", "OneToOneField")
MANY_FIELDS = ("ManyToManyField",)


def model_fields(project: Project) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """For every model class of the project, by qualified name: its forward relations (ForeignKey, OneToOneField)
    and its related managers (its ManyToManyFields, and the ``related_name`` other models give it)."""
    models: dict[str, tuple[Module, ast.ClassDef]] = {}
    for module in project.modules:
        for cls in module.classes.values():
            # Model bases from elsewhere (AbstractUser, TimeStampedModel) live in some `models` module.
            if any(b.endswith("Model") or ".models." in b for b in project.base_names(module, cls)):
                models[project.class_name(module, cls)] = (module, cls)
    relations: dict[str, set[str]] = {model: set() for model in models}
    managers: dict[str, set[str]] = {model: set() for model in models}
    for model, (module, cls) in models.items():
        for owner_module, owner in project.mro(module, cls):
            for stmt in owner.body:
                field, value = _class_assignment(stmt)
                if not field or not isinstance(value, ast.Call):
                    continue
                called = owner_module.qualify(value.func) or ""
                if called.endswith(RELATION_FIELDS):
                    relations[model].add(field)
                elif called.endswith(MANY_FIELDS):
                    managers[model].add(field)
                else:
                    continue
                reverse = _related_name(value)
                target = _target_model(owner_module, value, model, models)
                if reverse and target and not called.endswith("OneToOneField"):
                    managers[target].add(reverse)
    return ({m: frozenset(f) for m, f in relations.items()}, {m: frozenset(f) for m, f in managers.items()})


def _class_assignment(stmt: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id, stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return stmt.target.id, stmt.value
    return None, None


def _related_name(field: ast.Call) -> str | None:
    for keyword in field.keywords:
        if keyword.arg == "related_name" and isinstance(keyword.value, ast.Constant):
            name = keyword.value.value
            return name if isinstance(name, str) and not name.endswith("+") else None
    return None


def _target_model(
    module: Module, field: ast.Call, own: str, models: dict[str, tuple[Module, ast.ClassDef]]
) -> str | None:
    """The model a relation field points to: a class, ``"self"``, ``"Model"`` or ``"app_label.Model"``."""
    target = field.args[0] if field.args else next((k.value for k in field.keywords if k.arg == "to"), None)
    if isinstance(target, ast.Constant) and isinstance(target.value, str):
        if target.value == "self":
            return own
        short_name = target.value.rpartition(".")[2]
        matches = [m for m in models if m.rpartition(".")[2] == short_name]
        return matches[0] if len(matches) == 1 else None
    qualname = module.qualify(target) if target is not None else None
    return qualname if qualname in models else None
