"""What every check shares for one audited PATH: the parsed project, its models' relations, one scope per
function, and the project-wide questions kind inference asks (what a module-level name, a parameter, an attribute
of an object or a function's result holds). Each answer is computed once and kept; a question asked again while it
is being answered (a recursion) gets "unknown".
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from longrun.audit import known_apis
from longrun.audit.analysis.kinds import ClientKind, InstanceKind, Kind, ObjectKind, merge, model_fields
from longrun.audit.analysis.project import Function, Module, Project, is_generator, own_nodes
from longrun.audit.analysis.scope import Scope
from longrun.audit.django_versions import UNKNOWN

_PENDING = object()


class Context:
    """The project plus the caches of kind inference."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.relations, self.managers = model_fields(project)
        self._scopes: dict[int, Scope] = {}
        self._answers: dict[tuple[object, ...], object] = {}
        self._call_sites: dict[int, list[tuple[Scope, ast.Call]]] | None = None
        self._manager_methods: dict[str, list[Function]] | None = None
        self._indexing = False
        self.django = UNKNOWN

    def prepare(self) -> None:
        """Builds the call-site index before any rule asks a kind (parameters' kinds depend on it)."""
        functions = self.project.functions()
        if functions:
            self.call_sites(functions[0])

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

    def _once(self, key: tuple[object, ...], compute: object) -> Kind | None:
        answer = self._answers.get(key)
        if answer is _PENDING:
            return None
        if key in self._answers:
            return answer  # type: ignore[return-value]
        self._answers[key] = _PENDING
        try:
            result = compute()  # type: ignore[operator]
        except RecursionError:
            result = None
        self._answers[key] = result
        return result  # type: ignore[no-any-return]

    # --- what names hold ----------------------------------------------------------------------------------------

    def global_kind(self, module: Module, name: str) -> Kind | None:
        """A module-level name: every value it is given (in any branch) agrees on a kind."""

        def compute() -> Kind | None:
            scope = self.module_scope(module)
            kinds = {scope.kind(value) for value in module.assigns.get(name, [])}
            return None if None in kinds else merge({k for k in kinds if k is not None})

        return self._once(("global", id(module), name), compute)

    def param_kind(self, fn: Function, name: str) -> Kind | None:
        """A parameter: what the project's own calls of the function pass for it, when they agree."""
        if self._indexing:
            return None

        def compute() -> Kind | None:
            kinds: set[Kind] = set()
            for caller, call in self.call_sites(fn):
                argument = _argument(fn, call, name)
                found = caller.kind(argument) if argument is not None else self._forwarded(caller, call, name)
                if found is not None:
                    kinds.add(found)
            return merge(kinds)

        return self._once(("param", id(fn.node), name), compute)

    def _forwarded(self, caller: Scope, call: ast.Call, name: str) -> Kind | None:
        """``f(**kwargs)`` inside ``def g(*args, **kwargs)``: what g's own callers pass as ``name=``."""
        outer = caller.fn
        if outer is None or outer.node.args.kwarg is None:
            return None
        forwarded = outer.node.args.kwarg.arg
        if not any(k.arg is None and isinstance(k.value, ast.Name) and k.value.id == forwarded for k in call.keywords):
            return None

        def compute() -> Kind | None:
            kinds: set[Kind] = set()
            for scope, site in self.call_sites(outer):
                value = next((k.value for k in site.keywords if k.arg == name), None)
                found = scope.kind(value) if value is not None else self._forwarded(scope, site, name)
                if found is not None:
                    kinds.add(found)
            return merge(kinds)

        return self._once(("forwarded", id(outer.node), name), compute)

    def is_manager_class(self, module: Module, cls: ast.ClassDef) -> bool:
        """A class of the project built on Django's Manager or QuerySet (a custom manager)."""
        return any(base in known_apis.MANAGER_BASES for base in self.project.base_names(module, cls))

    def manager_methods(self, name: str) -> list[Function]:
        """The methods called ``name`` of the project's custom managers and QuerySets (none for Django's own)."""
        if name in known_apis.QUERYSET_CHAIN or name in known_apis.QUERYSET_SQL or name.startswith("_"):
            return []
        if self._manager_methods is None:
            index: dict[str, list[Function]] = {}
            for module in self.project.modules:
                for cls in (n for n in ast.walk(module.tree) if isinstance(n, ast.ClassDef)):
                    if self.is_manager_class(module, cls):
                        for node in cls.body:
                            method = self.project.function_of(node)
                            if method is not None:
                                index.setdefault(method.node.name, []).append(method)
            self._manager_methods = index
        return list(self._manager_methods.get(name, []))

    def element_kind(self, module: Module, name: str) -> Kind | None:
        """What a module-level dict or list (``chats = {}``) holds: the values the project stores in it
        (``chats[key] = chat``, ``chats.setdefault(key, chat)``), when they agree on a kind."""
        values = module.assigns.get(name, [])
        if not values or not all(_empty_container(module, v) for v in values):
            return None

        def compute() -> Kind | None:
            kinds: set[Kind | None] = set()
            scopes = [self.scope(fn) for fn in self.project.functions() if fn.module is module]
            for scope in [self.module_scope(module), *scopes]:
                if scope.fn is not None and name in scope.local_names:
                    continue  # a local of the same name
                nodes = own_nodes(scope.fn.node) if scope.fn is not None else _module_level(module)
                for node in nodes:
                    for stored in _stored_values(node, name):
                        kinds.add(scope.kind(stored))
            if not kinds or None in kinds:
                return None
            return merge({k for k in kinds if k is not None})

        return self._once(("element", id(module), name), compute)

    def attribute_kind(self, owner: ObjectKind, attr: str) -> Kind | None:
        """``obj.attr`` on an object of the project's classes: the class attribute, or the ``self.attr = ...``
        assignments of any method (its bases' included)."""

        def compute() -> Kind | None:
            kinds: set[Kind | None] = set()
            for qualname in owner.classes:
                klass = self.project.klass(qualname)
                if klass is None:
                    return None
                for module, cls in self.project.mro(*klass):
                    for stmt in cls.body:
                        if isinstance(stmt, ast.Assign) and any(
                            isinstance(t, ast.Name) and t.id == attr for t in stmt.targets
                        ):
                            kinds.add(self.module_scope(module).kind(stmt.value))
                    for node in ast.walk(cls):
                        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                            continue
                        method = self.project.function_of(node)
                        for assign in own_nodes(node):
                            if isinstance(assign, ast.Assign) and any(_is_self_attr(t, attr) for t in assign.targets):
                                if method is not None:
                                    kinds.add(self.scope(method).kind(assign.value))
            if not kinds or None in kinds:
                return None
            return merge({k for k in kinds if k is not None})

        return self._once(("attr", owner, attr), compute)

    def return_kind(self, fn: Function, caller: Scope | None = None) -> Kind | None:
        """What calling a project function hands back: its return annotation when it names a known client, else
        the kind every ``return`` agrees on (a generator hands back a generator: unknown)."""

        def compute() -> Kind | None:
            if fn.node.returns is not None:
                named = fn.module.qualify(fn.node.returns)
                if named in known_apis.CLIENTS:
                    return ClientKind(named)
            if is_generator(fn.node):
                return None
            if fn.node.name == "__init__" and fn.cls is not None:
                return ObjectKind(frozenset({self.project.class_name(fn.module, fn.cls)}))
            scope = self.scope(fn)
            kinds: set[Kind | None] = set()
            for node in own_nodes(fn.node):
                # `return None` (and a bare `return`) is the failure path of an Optional result: the kind is the
                # kind of the other returns.
                if isinstance(node, ast.Return) and node.value is not None and not _is_none(node.value):
                    kinds.add(scope.kind(node.value))
            if not kinds or None in kinds:
                return None
            return merge({k for k in kinds if k is not None})

        return self._once(("return", id(fn.node)), compute)

    def constructed(self, qualname: str, call: ast.Call, scope: Scope) -> Kind | None:
        """What calling ``qualname`` builds, when it is a known client, a model, a project class or a factory."""
        if qualname in known_apis.CLIENTS:
            return ClientKind(qualname)
        function = known_apis.FUNCTIONS.get(qualname)
        if function is not None and function.returns is not None:
            if function.returns == "boto3.Client":
                service = (
                    call.args[0]
                    if call.args
                    else next((k.value for k in call.keywords if k.arg == "service_name"), None)
                )
                name = service.value if isinstance(service, ast.Constant) else None
                return ClientKind(known_apis.boto3_client(name))
            return ClientKind(function.returns)
        if qualname in self.relations:
            # `Book(...)`: an unsaved instance; its relations are whatever it was given, so none is lazy.
            return InstanceKind(qualname, None)
        if self.project.klass(qualname) is not None:
            return ObjectKind(frozenset({qualname}))
        family = known_apis.family_of(qualname)
        if family is not None:
            name = qualname.rpartition(".")[2]
            if qualname.rpartition(".")[0].rpartition(".")[2][:1].isupper():
                name = qualname.rpartition(".")[0].rpartition(".")[2]  # Cls.from_documents(...)
            if name[:1].isupper() or qualname.rpartition(".")[2] in family.factories:
                local = bool(family.local_classes.search(name)) and qualname.rpartition(".")[2] not in family.factories
                return ClientKind(family.name, family=family.name, cls=qualname, local=local)
        return None

    # --- who calls whom -----------------------------------------------------------------------------------------

    def call_sites(self, fn: Function) -> list[tuple[Scope, ast.Call]]:
        """The calls of the project that run ``fn`` (resolved without parameter kinds, which depend on them)."""
        if self._call_sites is None:
            self._indexing = True
            index: dict[int, list[tuple[Scope, ast.Call]]] = {}
            try:
                for scope, call in self.all_calls():
                    for callee in scope.callees(call):
                        index.setdefault(id(callee.node), []).append((scope, call))
            finally:
                self._indexing = False
            self._call_sites = index
            # Kinds answered while indexing could not see parameters: ask again now that they can.
            self._answers = {}
        return self._call_sites.get(id(fn.node), [])

    def all_calls(self) -> Iterator[tuple[Scope, ast.Call]]:
        """Every call of the project with the scope it is made in (module-level code included)."""
        for fn in self.project.functions():
            scope = self.scope(fn)
            for node in own_nodes(fn.node):
                if isinstance(node, ast.Call):
                    yield scope, node
        for module in self.project.modules:
            scope = self.module_scope(module)
            for node in _module_level(module):
                if isinstance(node, ast.Call):
                    yield scope, node


def _module_level(module: Module) -> Iterator[ast.AST]:
    """The nodes a module runs when imported: not function bodies, but class bodies and decorators."""
    stack: list[ast.AST] = list(module.tree.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            stack.extend(node.decorator_list)
            continue
        if isinstance(node, ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _is_self_attr(target: ast.expr, attr: str) -> bool:
    return (
        isinstance(target, ast.Attribute)
        and target.attr == attr
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
    )


def _argument(fn: Function, call: ast.Call, name: str) -> ast.expr | None:
    """The argument a call passes for parameter ``name`` of ``fn`` (by keyword, else by position)."""
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    params = [a.arg for a in fn.node.args.posonlyargs + fn.node.args.args]
    bound_self = fn.cls is not None and params[:1] in (["self"], ["cls"]) and not fn.is_static
    # `obj.method(x)` and `Cls(x)` (into __init__) pass self themselves.
    if bound_self and (isinstance(call.func, ast.Attribute) or fn.node.name == "__init__"):
        params = params[1:]
    if name not in params:
        return None
    position = params.index(name)
    args = [a for a in call.args if not isinstance(a, ast.Starred)]
    return args[position] if position < len(args) and len(args) == len(call.args) else None


def _is_none(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is None


CONTAINERS = frozenset({"dict", "list", "collections.defaultdict", "collections.OrderedDict"})


def _empty_container(module: Module, value: ast.expr) -> bool:
    if isinstance(value, ast.Dict | ast.List):
        return not value.keys if isinstance(value, ast.Dict) else not value.elts
    return isinstance(value, ast.Call) and module.qualify(value.func) in CONTAINERS


def _stored_values(node: ast.AST, name: str) -> list[ast.expr]:
    """What a statement stores in the container ``name``: ``name[k] = v``, ``name.setdefault(k, v)``,
    ``name.append(v)``."""
    if isinstance(node, ast.Assign):
        return [
            node.value
            for target in node.targets
            if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) and target.value.id == name
        ]
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == name
    ):
        if node.func.attr == "setdefault" and len(node.args) == 2:
            return [node.args[1]]
        if node.func.attr == "append" and len(node.args) == 1:
            return [node.args[0]]
    return []
