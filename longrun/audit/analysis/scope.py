"""Kind inference for one function (or a module's top level): which names hold QuerySets, instances, SDK clients or
objects of the project's classes, and which project functions a call runs.

A name's kind comes from its assignments in the function, or, for a parameter, from what the project's own call
sites pass (``Context.param_kind``); a project function's result from its ``return`` statements; an attribute of
an object from the ``self.x = ...`` assignments of its class. Each question is asked once per name and guarded
against recursion, so a cycle gives an unknown, never a loop.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from longrun.audit import known_apis
from longrun.audit.analysis.kinds import ClientKind, InstanceKind, Kind, ObjectKind, QuerySetKind, merge
from longrun.audit.analysis.project import FuncNode, Function, Module, own_nodes

if TYPE_CHECKING:
    from longrun.audit.analysis.context import Context

MANAGER_ATTRS = frozenset({"objects", "_default_manager", "_base_manager"})
PARAMETER = ast.Name(id="<parameter>")
# DRF serializers and Django forms call these hooks of the project's class from their own methods.
FRAMEWORK_HOOKS = {"save": ("create", "update"), "is_valid": ("validate",)}


class Scope:
    """Kinds of the names one function (or a module's top level) can see."""

    def __init__(self, ctx: Context, module: Module, fn: Function | None) -> None:
        self.ctx = ctx
        self.module = module
        self.fn = fn
        self.assigned: dict[str, list[ast.expr]] = {}
        self.iterated: dict[str, list[ast.expr]] = {}
        self.nested: dict[str, list[FuncNode]] = {}
        self._busy: set[str] = set()
        self.params: set[str] = set()
        if fn is not None:
            self._read(fn)
        self.local_names = set(self.assigned) | set(self.iterated) | self.params

    def _read(self, fn: Function) -> None:
        args = fn.node.args
        self.params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
        for extra in (args.vararg, args.kwarg):
            if extra is not None:
                self.params.add(extra.arg)
        for node in own_nodes(fn.node):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    self._bind(target, node.value)
            elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
                if node.value is not None:
                    self.assigned.setdefault(node.target.id, []).append(node.value)
            elif isinstance(node, ast.NamedExpr):
                self.assigned.setdefault(node.target.id, []).append(node.value)
            elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                self._bind_iteration(node.target, node.iter)
            elif isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    if item.optional_vars is not None:
                        self._bind(item.optional_vars, item.context_expr)
            elif isinstance(node, FuncNode):
                self.nested.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.Global | ast.Nonlocal):
                for name in node.names:
                    self.assigned.setdefault(name, []).append(PARAMETER)
        for name in self.params & set(self.assigned):
            # A parameter reassigned in the body can hold anything: its own assignment does not tell its kind.
            self.assigned[name].append(PARAMETER)

    def _bind(self, target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self.assigned.setdefault(target.id, []).append(value)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                if isinstance(element, ast.Name):
                    self.assigned.setdefault(element.id, []).append(PARAMETER)

    def _bind_iteration(self, target: ast.expr, iterable: ast.expr) -> None:
        if isinstance(target, ast.Name):
            self.iterated.setdefault(target.id, []).append(iterable)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                if isinstance(element, ast.Name):
                    self.assigned.setdefault(element.id, []).append(PARAMETER)

    # --- names ------------------------------------------------------------------------------------------------

    def qualify(self, expr: ast.expr) -> str | None:
        """Like ``Module.qualify``, but a local variable (``requests = {}``) hides the import of the same name."""
        root = expr
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(root, ast.Name) and root.id in self.local_names:
            return None
        return self.module.qualify(expr)

    def value_of(self, expr: ast.expr) -> ast.expr:
        """The expression a name was assigned from, when it was assigned exactly once (locally, else at module
        level); else the expression itself."""
        if not isinstance(expr, ast.Name):
            return expr
        values = self.assigned.get(expr.id)
        if values is None and expr.id not in self.local_names:
            values = self.module.assigns.get(expr.id)
        return values[0] if values is not None and len(values) == 1 else expr

    # --- kinds ------------------------------------------------------------------------------------------------

    def kind(self, expr: ast.expr) -> Kind | None:
        """What the expression evaluates to, when the rules can tell."""
        match expr:
            case ast.Await(value=ast.Call() as call):
                return self.call_kind(call, awaited=True)
            case ast.Call():
                return self.call_kind(expr)
            case ast.Subscript(value=container, slice=index):
                inner = self.kind(container)
                if isinstance(inner, QuerySetKind):
                    # qs[:5] is another lazy QuerySet; qs[0] runs the query and gives an instance.
                    return inner if isinstance(index, ast.Slice) else InstanceKind(inner.model, inner.related)
                if isinstance(inner, ClientKind) and inner.entry is not None and inner.entry.subscript:
                    return inner  # client["db"]["jobs"]: still the client
                if inner is None and isinstance(container, ast.Name):
                    return self._element(container.id)
                return None
            case ast.Attribute(value=ast.Name(id=owner), attr=attr) if attr in MANAGER_ATTRS and owner[:1].isupper():
                model = self.qualify(ast.Name(id=owner)) or owner
                if self.ctx.project.klass(model) is not None and model not in self.ctx.relations:
                    return None  # a class of the project that is not a model: its `objects` is something else
                return QuerySetKind(model)
            case ast.Attribute(value=receiver, attr=attr):
                return self._attribute(receiver, attr, expr)
            case ast.Name(id=name):
                return self._name(name)
            case ast.BinOp(left=left, op=ast.BitOr(), right=right):
                return _composed(self.kind(left), self.kind(right))
            case ast.IfExp(body=body, orelse=orelse):
                return merge({k for k in (self.kind(body), self.kind(orelse)) if k is not None})
            case ast.BoolOp(values=values):
                return merge({k for k in (self.kind(v) for v in values) if k is not None})
        return None

    def _name(self, name: str) -> Kind | None:
        if name in self._busy:
            return None
        self._busy.add(name)
        try:
            if name in self.assigned or name in self.iterated:
                kinds = {self.kind(value) for value in self.assigned.get(name, [])}
                kinds |= {_element(self.kind(value)) for value in self.iterated.get(name, [])}
                if None in kinds:
                    return None
                return merge({k for k in kinds if k is not None})
            if name in self.params and self.fn is not None:
                if name in {"self", "cls"} and self.fn.cls is not None:
                    if self.ctx.is_manager_class(self.fn.module, self.fn.cls):
                        return QuerySetKind("")  # inside a custom manager or QuerySet: `self.filter(...)`
                    return ObjectKind(frozenset({self.ctx.project.class_name(self.fn.module, self.fn.cls)}))
                return self.ctx.param_kind(self.fn, name)
            if name in self.module.assigns:
                return self.ctx.global_kind(self.module, name)
            imported = self.module.imports.get(name)
            if imported is not None:
                found = self.ctx.project.lookup(imported)
                if found is not None and found[1] in found[0].assigns:
                    return self.ctx.global_kind(found[0], found[1])
                if imported in known_apis.CLIENTS and imported == "django.core.cache.cache":
                    return ClientKind(imported)
            return None
        finally:
            self._busy.discard(name)

    def _element(self, name: str) -> Kind | None:
        """An item of a module-level container the project stores objects of one kind in (``chats[key]``)."""
        if name in self.local_names:
            return None
        if name in self.module.assigns:
            return self.ctx.element_kind(self.module, name)
        imported = self.module.imports.get(name)
        found = self.ctx.project.lookup(imported) if imported else None
        if found is not None and found[1] in found[0].assigns:
            return self.ctx.element_kind(found[0], found[1])
        return None

    def _attribute(self, receiver: ast.expr, attr: str, expr: ast.Attribute) -> Kind | None:
        qualname = self.qualify(expr)
        if qualname == "django.core.cache.cache":
            return ClientKind(qualname)
        owner = self.kind(receiver)
        if isinstance(owner, InstanceKind) and (
            attr.endswith("_set") or attr in self.ctx.managers.get(owner.model, frozenset())
        ):
            return QuerySetKind("")  # a related manager: it queries like a QuerySet
        if isinstance(owner, ObjectKind):
            return self.ctx.attribute_kind(owner, attr)
        if isinstance(owner, ClientKind) and owner.entry is not None and attr in owner.entry.returns:
            return ClientKind(owner.entry.returns[attr])
        if isinstance(owner, ClientKind):
            return owner  # client.chat.completions: still the client, further down its resources
        return None

    # --- calls ------------------------------------------------------------------------------------------------

    def call_kind(self, call: ast.Call, *, awaited: bool = False) -> Kind | None:
        """What a call hands back: a QuerySet step, a client, an instance, an object, or a project function's result."""
        func = call.func
        if isinstance(func, ast.Attribute):
            receiver = self.kind(func.value)
            if isinstance(receiver, QuerySetKind):
                found = _queryset_call(receiver, func.attr, call, awaited)
                if found is None and func.attr not in known_apis.QUERYSET_SQL:
                    # A method of the project's own manager or QuerySet class: what it returns.
                    returned = {self.ctx.return_kind(m, self) for m in self.ctx.manager_methods(func.attr)}
                    if returned and None not in returned:
                        return merge({k for k in returned if k is not None})
                return found
            if isinstance(receiver, ClientKind):
                return _client_call(receiver, func.attr, call)
            if receiver is None and isinstance(func.value, ast.Name) and func.attr in {"get", "pop", "setdefault"}:
                element = self._element(func.value.id)  # chats.get(key): an item of a container
                if element is not None:
                    return element
        qualname = self.qualify(func)
        if qualname is not None:
            built = self.ctx.constructed(qualname, call, self)
            if built is not None:
                return built
        kinds: set[Kind] = set()
        for callee in self.callees(call):
            if callee.is_async and not awaited:
                return None
            found = self.ctx.return_kind(callee, self)
            if found is None:
                return None
            kinds.add(found)
        return merge(kinds)

    def callees(self, call: ast.Call) -> list[Function]:
        """The project functions a call runs (several when the receiver may be of several classes); a class's
        ``__init__`` for a constructor."""
        project = self.ctx.project
        func = call.func
        if isinstance(func, ast.Name):
            nested = self.nested.get(func.id, [])
            if nested and func.id not in self.assigned:
                found = project.function_of(nested[-1])
                return [found] if found is not None else []
            if func.id in self.local_names:
                return []
        if isinstance(func, ast.Attribute):
            if _is_super(func.value) and self.fn is not None and self.fn.cls is not None:
                for base_module, base in list(project.mro(self.fn.module, self.fn.cls))[1:]:
                    found = project.method(base_module, base, func.attr)
                    if found is not None:
                        return [found]
                return []
            receiver = self.kind(func.value)
            if isinstance(receiver, ObjectKind):
                return self._methods(receiver, func.attr)
            if isinstance(receiver, InstanceKind) and receiver.model:
                return self._methods(ObjectKind(frozenset({receiver.model})), func.attr)
            if isinstance(receiver, QuerySetKind):
                return self.ctx.manager_methods(func.attr)  # the project's own manager and QuerySet methods
            if isinstance(receiver, ClientKind):
                return []
        qualname = self.qualify(func)
        if qualname is None:
            return []
        found = project.function(qualname)
        if found is not None:
            return [found]
        klass = project.klass(qualname)
        if klass is not None:
            init = project.method(klass[0], klass[1], "__init__")
            return [init] if init is not None else []
        owner_name, _, method = qualname.rpartition(".")
        owner = project.klass(owner_name)
        if owner is not None:
            found = project.method(owner[0], owner[1], method)
            return [found] if found is not None else []
        return []

    def _methods(self, kind: ObjectKind, name: str) -> list[Function]:
        found: list[Function] = []
        for qualname in sorted(kind.classes):
            klass = self.ctx.project.klass(qualname)
            if klass is None:
                continue
            method = self.ctx.project.method(klass[0], klass[1], name)
            if method is not None:
                found.append(method)
                continue
            for hook in FRAMEWORK_HOOKS.get(name, ()):
                hooked = self.ctx.project.method(klass[0], klass[1], hook)
                if hooked is not None:
                    found.append(hooked)
        return found


def _is_super(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "super"


def _element(kind: Kind | None) -> Kind | None:
    # Iterating a QuerySet gives its instances, with the same relations loaded.
    return InstanceKind(kind.model, kind.related) if isinstance(kind, QuerySetKind) else None


def _composed(left: Kind | None, right: Kind | None) -> Kind | None:
    """``prompt | llm``: a LangChain pipeline calls a model when any of its steps does."""
    steps = [k for k in (left, right) if isinstance(k, ClientKind) and k.family]
    if not steps:
        return None
    family = steps[0].family
    if any(not step.local for step in steps):
        return ClientKind(family, family=family, cls="a pipeline (`|`)")
    return ClientKind(family, family=family, cls="a pipeline (`|`)", local=True) if len(steps) == 2 else None


def _queryset_call(inner: QuerySetKind, method: str, call: ast.Call, awaited: bool) -> Kind | None:
    if method in {"select_related", "prefetch_related"}:
        if not call.args:
            return QuerySetKind(inner.model, None if method == "select_related" else inner.related)
        names = {a.value.split("__")[0] for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
        if len(names) < len(call.args):
            return QuerySetKind(inner.model, None)  # a Prefetch object or a variable: assume it covers what is used
        related = None if inner.related is None else inner.related | names
        return QuerySetKind(inner.model, related)
    if method in known_apis.QUERYSET_CHAIN:
        return QuerySetKind(inner.model, inner.related)
    instance_method = method[1:] if awaited and method.startswith("a") else method
    if instance_method in known_apis.QUERYSET_INSTANCE:
        # A created instance holds the related objects it was given: nothing of it is lazy.
        return InstanceKind(inner.model, None if instance_method == "create" else inner.related)
    return None


def _client_call(receiver: ClientKind, method: str, call: ast.Call) -> Kind | None:
    entry = receiver.entry
    if receiver.api == "boto3.Session" and method == "client":
        service = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "service_name"), None)
        return ClientKind(known_apis.boto3_client(service.value if isinstance(service, ast.Constant) else None))
    if entry is not None:
        if method in entry.returns:
            return ClientKind(entry.returns[method])
        if method in entry.local:
            return receiver
        if receiver.llm and (_streams(call) or "stream" in method) and entry.sync:
            return ClientKind("llm.Stream", cls=receiver.label)
        return None
    if receiver.family and not receiver.local:
        family = next(f for f in known_apis.FAMILIES if f.name == receiver.family)
        if method in family.factories or method not in family.blocking:
            return ClientKind(receiver.family, family=receiver.family, cls=f"{receiver.cls}.{method}()", local=False)
    return None


def _streams(call: ast.Call) -> bool:
    return any(k.arg == "stream" and isinstance(k.value, ast.Constant) and k.value.value is True for k in call.keywords)
