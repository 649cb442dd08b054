"""Just enough type inference for the rules: which names hold a QuerySet, a model instance or a network client.

Each function gets a ``Scope`` that reads its own assignments; module globals and ``self.`` attributes set in the
class are looked up too. Anything unclear is left unknown, so the rules stay quiet rather than guess.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from longrun.audit import catalog
from longrun.audit.walker import Function, Module, Project, is_generator, own_nodes

MANAGER_ATTRS = frozenset({"objects", "_default_manager", "_base_manager"})
RELATION_FIELDS = ("ForeignKey", "OneToOneField")
MANY_FIELDS = ("ManyToManyField",)


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
    """A network client object of the qualified class ``cls``."""

    cls: str

    @property
    def is_sync(self) -> bool:
        return self.cls in catalog.SYNC_CLIENT_CLASSES


Kind = QuerySetKind | InstanceKind | ClientKind


class Context:
    """What every rule shares for one audited PATH: the project, its models' relations, scopes per function."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._scopes: dict[int, Scope] = {}
        # Per model: the forward relations read lazily (`book.author`) and the related managers (`book.tags`).
        self.relations, self.managers = _model_fields(project)

    def scope(self, fn: Function) -> Scope:
        """The (cached) scope of a function."""
        key = id(fn.node)
        if key not in self._scopes:
            self._scopes[key] = Scope(self, fn.module, fn)
        return self._scopes[key]

    def module_scope(self, module: Module) -> Scope:
        """A scope with no locals: for module-level code."""
        key = id(module)
        if key not in self._scopes:
            self._scopes[key] = Scope(self, module, None)
        return self._scopes[key]


class Scope:
    """Kinds of the names one function (or a module's top level) can see."""

    def __init__(self, ctx: Context, module: Module, fn: Function | None) -> None:
        self.ctx = ctx
        self.module = module
        self.fn = fn
        self._assigned: dict[str, list[ast.expr]] = {}
        self._iterated: dict[str, list[ast.expr]] = {}
        self._busy: set[str] = set()
        self.local_names: set[str] = set()
        if fn is not None:
            self._read_assignments(fn)
            params = fn.node.args
            self.local_names = {a.arg for a in [*params.posonlyargs, *params.args, *params.kwonlyargs]}
            self.local_names |= set(self._assigned) | set(self._iterated)

    def _read_assignments(self, fn: Function) -> None:
        for node in own_nodes(fn.node):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self._assigned.setdefault(target.id, []).append(node.value)
            elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
                if node.value is not None:
                    self._assigned.setdefault(node.target.id, []).append(node.value)
            elif isinstance(node, ast.NamedExpr):
                self._assigned.setdefault(node.target.id, []).append(node.value)
            elif isinstance(node, ast.For | ast.AsyncFor) and isinstance(node.target, ast.Name):
                self._iterated.setdefault(node.target.id, []).append(node.iter)
            elif isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    if isinstance(item.optional_vars, ast.Name):
                        self._assigned.setdefault(item.optional_vars.id, []).append(item.context_expr)
        for arg in [*fn.node.args.posonlyargs, *fn.node.args.args, *fn.node.args.kwonlyargs]:
            # A parameter can hold anything: a local assignment alone does not tell its kind.
            if arg.arg in self._assigned:
                self._assigned[arg.arg].append(ast.Name(id="<parameter>"))

    def qualify(self, expr: ast.expr) -> str | None:
        """Like ``Module.qualify``, but a local variable (``requests = {}``) hides the import of the same name."""
        root = expr
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id in self.local_names:
            return None
        return self.module.qualify(expr)

    def value_of(self, expr: ast.expr) -> ast.expr:
        """The expression a local name was assigned from, when it was assigned exactly once; else the expression."""
        if isinstance(expr, ast.Name) and len(values := self._assigned.get(expr.id, [])) == 1:
            return values[0]
        return expr

    def kind(self, expr: ast.expr) -> Kind | None:
        """What the expression evaluates to, when the rules can tell."""
        match expr:
            case ast.Await(value=ast.Call(func=ast.Attribute(value=receiver, attr=method))):
                inner = self.kind(receiver)
                if isinstance(inner, QuerySetKind) and method in catalog.ASYNC_INSTANCE:
                    # A created instance holds the related objects it was given: nothing of it is lazy.
                    return InstanceKind(inner.model, None if method == "acreate" else inner.related)
                return None
            case ast.Call(func=ast.Attribute(value=receiver, attr=method) as func):
                inner = self.kind(receiver)
                if isinstance(inner, QuerySetKind):
                    return _queryset_call(inner, method, expr)
                return self._constructed(func)
            case ast.Call(func=func):
                return self._constructed(func)
            case ast.Attribute(value=ast.Name(id=owner), attr=attr) if attr in MANAGER_ATTRS and owner[:1].isupper():
                model = self.module.qualify(ast.Name(id=owner)) or owner
                if self.ctx.project.klass(model) is not None and model not in self.ctx.relations:
                    return None  # a class of the project that is not a model: its `objects` is something else
                return QuerySetKind(model)
            case ast.Attribute(value=ast.Name(id="self"), attr=attr):
                return self._self_attribute(attr)
            case ast.Attribute(value=receiver, attr=attr):
                owner_kind = self.kind(receiver)
                if isinstance(owner_kind, InstanceKind) and (
                    attr.endswith("_set") or attr in self.ctx.managers.get(owner_kind.model, frozenset())
                ):
                    return QuerySetKind("")  # a related manager: it queries like a QuerySet
                return None
            case ast.Name(id=name):
                return self._name(name)
        return None

    def _name(self, name: str) -> Kind | None:
        if name in self._busy:
            return None
        self._busy.add(name)
        try:
            if name in self._assigned or name in self._iterated:
                kinds = {self.kind(value) for value in self._assigned.get(name, [])}
                kinds |= {_element(self.kind(value)) for value in self._iterated.get(name, [])}
                return kinds.pop() if len(kinds) == 1 else None
            if self.fn is not None and name in self.module.assigns:
                return self.ctx.module_scope(self.module).kind(self.module.assigns[name])
            return None
        finally:
            self._busy.discard(name)

    def _constructed(self, func: ast.expr) -> Kind | None:
        qualname = self.qualify(func)
        if qualname in catalog.SYNC_CLIENT_CLASSES or qualname in catalog.ASYNC_CLIENT_CLASSES:
            return ClientKind(qualname)
        if qualname in self.ctx.relations:
            # `Book(...)`: an unsaved instance; its relations are whatever it was given, so none is lazy.
            return InstanceKind(qualname, None)
        if self.fn is not None:
            factory = self.ctx.project.resolve_call(self.fn, ast.Call(func=func, args=[], keywords=[]))
        else:
            factory = self.ctx.project.function(qualname) if qualname else None
        if factory is None:
            return None
        if factory.node.returns is not None:
            # A typed factory (``def get_client() -> OpenAI``) says what it hands back.
            returned = factory.module.qualify(factory.node.returns)
            if returned in catalog.SYNC_CLIENT_CLASSES or returned in catalog.ASYNC_CLIENT_CLASSES:
                return ClientKind(returned)
        return _built_client(factory)

    def _self_attribute(self, attr: str) -> Kind | None:
        if self.fn is None or self.fn.cls is None:
            return None
        for stmt in ast.walk(self.fn.cls):
            if (
                isinstance(stmt, ast.Assign)
                and len(stmt.targets) == 1
                and isinstance(target := stmt.targets[0], ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
                and target.attr == attr
            ):
                found = self.ctx.module_scope(self.module).kind(stmt.value)
                if isinstance(found, ClientKind):
                    return found
        return None


def _built_client(factory: Function) -> ClientKind | None:
    """The client a module-level helper hands back, read one level down: every ``return`` builds the same client
    class (``return OpenAI(...)``). Async helpers, generators and decorators that may change the result (anything
    but ``functools.cache``/``lru_cache``) leave it unknown."""
    node = factory.node
    if factory.cls is not None or isinstance(node, ast.AsyncFunctionDef) or is_generator(node):
        return None
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if factory.module.qualify(target) not in catalog.CACHING_DECORATORS:
            return None
    classes: set[str] = set()
    for stmt in own_nodes(node):
        if isinstance(stmt, ast.Return):
            built = factory.module.qualify(stmt.value.func) if isinstance(stmt.value, ast.Call) else None
            if built is None or built not in catalog.SYNC_CLIENT_CLASSES | catalog.ASYNC_CLIENT_CLASSES:
                return None
            classes.add(built)
    return ClientKind(classes.pop()) if len(classes) == 1 else None


def _element(kind: Kind | None) -> Kind | None:
    # Iterating a QuerySet gives its instances, with the same relations loaded.
    return InstanceKind(kind.model, kind.related) if isinstance(kind, QuerySetKind) else None


def _queryset_call(inner: QuerySetKind, method: str, call: ast.Call) -> Kind | None:
    if method in {"select_related", "prefetch_related"}:
        if not call.args:
            return QuerySetKind(inner.model, None if method == "select_related" else inner.related)
        names = {a.value.split("__")[0] for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
        if len(names) < len(call.args):
            return QuerySetKind(inner.model, None)  # a Prefetch object or a variable: assume it covers what is used
        related = None if inner.related is None else inner.related | names
        return QuerySetKind(inner.model, related)
    if method in catalog.QUERYSET_CHAIN:
        return QuerySetKind(inner.model, inner.related)
    if method in catalog.QUERYSET_INSTANCE:
        return InstanceKind(inner.model, None if method == "create" else inner.related)
    return None


def _model_fields(project: Project) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """For every model class of the project, by qualified name: its forward relations (ForeignKey, OneToOneField)
    and its related managers (its ManyToManyFields, and the ``related_name`` other models give it)."""
    models: dict[str, tuple[Module, ast.ClassDef]] = {}
    for module in project.modules:
        for name, cls in module.classes.items():
            # Model bases from elsewhere (AbstractUser, TimeStampedModel) live in some `models` module.
            if any(b.endswith("Model") or ".models." in b for b in project.base_names(module, cls)):
                models[f"{module.name}.{name}"] = (module, cls)
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


def _class_assignment(stmt: ast.stmt) -> tuple[str | None, ast.expr | None]:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id, stmt.value
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return stmt.target.id, stmt.value
    return None, None
