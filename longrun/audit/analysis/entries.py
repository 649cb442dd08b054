"""Where requests and messages enter the project: the request path the rules judge.

- function views: a first parameter named ``request`` (in a module that imports Django), DRF's ``@api_view``,
  django-ninja operations (``@router.get(...)``), and every function a URLconf routes to;
- class-based views (Django's generic views, DRF's APIView/GenericAPIView/ViewSet and their mixins, classes routed
  with ``as_view()``): the hooks Django and DRF call (``get``, ``post``, ``form_valid``, ``list``, ``create``,
  ``get_queryset``..., ``@action`` methods and the names an ``as_view({...})`` mapping routes to);
- DRF authentication, permission and throttle classes (they run on every request of their views);
- middleware (``__call__`` and ``process_*`` of a class built on ``get_response``), template filters and tags;
- generators handed to ``StreamingHttpResponse`` (their body runs while the response is sent);
- Channels consumers: ``receive``, ``receive_json``, ``websocket_receive`` and every group-message handler (a
  method named by a ``"type"`` the project sends), as "message handlers"; ``connect``, ``disconnect`` and
  ``__init__`` run once per connection (role "consumer"); their other methods run when these call them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from longrun.audit import known_apis
from longrun.audit.analysis.context import Context
from longrun.audit.analysis.project import FuncNode, Function, Module, is_generator, own_nodes
from longrun.audit.analysis.scope import Scope

VIEW_BASE_PREFIXES = (
    "django.views",
    "django.contrib.auth.views",
    "rest_framework.views",
    "rest_framework.generics",
    "rest_framework.viewsets",
    "rest_framework.mixins",
    "adrf.",
)
DRF_POLICY_PREFIXES = ("rest_framework.permissions", "rest_framework.authentication", "rest_framework.throttling")
VIEW_HOOKS = frozenset(
    {
        "get",
        "post",
        "put",
        "patch",
        "delete",
        "head",
        "options",
        "trace",
        "dispatch",
        "setup",
        "list",
        "create",
        "retrieve",
        "update",
        "partial_update",
        "destroy",
        "perform_create",
        "perform_update",
        "perform_destroy",
        "initial",
        "finalize_response",
        "get_queryset",
        "get_object",
        "get_serializer",
        "get_serializer_class",
        "get_serializer_context",
        "filter_queryset",
        "paginate_queryset",
        "get_paginated_response",
        "get_permissions",
        "get_context_data",
        "get_template_names",
        "render_to_response",
        "get_success_url",
        "get_redirect_url",
        "form_valid",
        "form_invalid",
        "get_form",
        "get_form_kwargs",
        "get_initial",
        "test_func",
    }
)
POLICY_HOOKS = frozenset({"authenticate", "has_permission", "has_object_permission", "allow_request"})
NINJA_VERBS = frozenset({"get", "post", "put", "patch", "delete", "api_operation"})
TEMPLATE_REGISTRATIONS = frozenset({"filter", "simple_tag", "inclusion_tag", "tag"})
RECEIVE = frozenset({"receive", "receive_json", "websocket_receive"})
# A consumer's methods that run once per connection (its other methods run when a handler calls them).
CONNECTION = frozenset({"__init__", "connect", "disconnect", "websocket_connect", "websocket_disconnect"})
URL_FUNCTIONS = ("django.urls.path", "django.urls.re_path", "django.conf.urls.url")


@dataclass(frozen=True, slots=True)
class Entry:
    """A function on the request path, and what role it plays there."""

    fn: Function
    role: str  # "view", "middleware", "template filter", "streamed generator", "message handler", "consumer"

    @property
    def is_message_handler(self) -> bool:
        return self.role == "message handler"


def entries(ctx: Context) -> dict[int, Entry]:
    """Every entry of the project, by the id of its def node (computed once)."""
    key = ("entries",)
    cached = ctx._answers.get(key)
    if isinstance(cached, dict):
        return cached
    found: dict[int, Entry] = {}
    routed_functions, routed_classes, routed_methods = _routes(ctx)
    handler_names = _message_types(ctx)
    for fn in ctx.project.functions():
        role = _role(ctx, fn, routed_functions, routed_classes, routed_methods, handler_names)
        if role is not None:
            found[id(fn.node)] = Entry(fn, role)
    for fn in _streamed_generators(ctx):
        found.setdefault(id(fn.node), Entry(fn, "streamed generator"))
    ctx._answers[key] = found
    return found


def _role(
    ctx: Context,
    fn: Function,
    routed_functions: set[int],
    routed_classes: set[str],
    routed_methods: set[str],
    handler_names: set[str],
) -> str | None:
    project = ctx.project
    if fn.cls is None:
        if fn.outer is not None:
            return None
        if id(fn.node) in routed_functions or fn.takes_request() or _decorated(fn, _is_view_decorator):
            return "view"
        if _decorated(fn, _is_template_registration):
            return "template filter"
        return None
    bases = project.base_names(fn.module, fn.cls)
    qualname = project.class_name(fn.module, fn.cls)
    name = fn.node.name
    if project.is_consumer(fn.module, fn.cls):
        if name in RECEIVE or name in handler_names:
            return "message handler"
        return "consumer" if name in CONNECTION else None
    if qualname in routed_classes or any(b.startswith(VIEW_BASE_PREFIXES) for b in bases):
        if name in VIEW_HOOKS or name in routed_methods or _decorated(fn, _is_action):
            return "view"
        return None
    if any(b.startswith(DRF_POLICY_PREFIXES) for b in bases) and name in POLICY_HOOKS:
        return "view"
    if _is_middleware(fn.cls) and (name == "__call__" or name.startswith("process_")):
        return "middleware"
    return None


def _decorated(fn: Function, test: object) -> bool:
    return any(test(fn.module, d) for d in fn.node.decorator_list)  # type: ignore[operator]


def _is_view_decorator(module: Module, decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    qualname = module.qualify(target) or ""
    if qualname.startswith(("rest_framework.decorators.api_view", "adrf.decorators.api_view")):
        return True
    # django-ninja: @router.get("/path"), @api.post(...), on an object the module built from ninja.
    if isinstance(target, ast.Attribute) and target.attr in NINJA_VERBS and isinstance(target.value, ast.Name):
        built = module.assigns.get(target.value.id, [])
        return any(isinstance(v, ast.Call) and (module.qualify(v.func) or "").startswith("ninja.") for v in built) or (
            target.value.id not in module.assigns and any(i.startswith("ninja") for i in module.imports.values())
        )
    return False


def _is_template_registration(module: Module, decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if not (isinstance(target, ast.Attribute) and target.attr in TEMPLATE_REGISTRATIONS):
        return False
    if not isinstance(target.value, ast.Name):
        return False
    return any(
        isinstance(v, ast.Call) and (module.qualify(v.func) or "").endswith("template.Library")
        for v in module.assigns.get(target.value.id, [])
    )


def _is_action(module: Module, decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (module.qualify(target) or "").startswith("rest_framework.decorators.action")


def _is_middleware(cls: ast.ClassDef) -> bool:
    """A middleware class: built on ``get_response`` (Django's middleware protocol), or on MiddlewareMixin."""
    for stmt in cls.body:
        if isinstance(stmt, FuncNode) and stmt.name == "__init__":
            if any(a.arg == "get_response" for a in stmt.args.args):
                return True
    return any((ast.unparse(b).endswith("MiddlewareMixin")) for b in cls.bases)


def _routes(ctx: Context) -> tuple[set[int], set[str], set[str]]:
    """What URLconfs route to: view functions, view classes (``as_view()``) and ``as_view({...})`` action names."""
    functions: set[int] = set()
    classes: set[str] = set()
    methods: set[str] = set()
    for module in ctx.project.modules:
        scope = ctx.module_scope(module)
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.Call):
                continue
            qualname = module.qualify(node.func) or ""
            if isinstance(node.func, ast.Attribute) and node.func.attr == "as_view":
                owner = module.qualify(node.func.value)
                if owner is not None:
                    classes.add(owner)
                for argument in node.args:
                    if isinstance(argument, ast.Dict):
                        methods |= {v.value for v in argument.values if isinstance(v, ast.Constant)}  # type: ignore[misc]
            elif qualname.endswith(URL_FUNCTIONS) and len(node.args) >= 2:
                target = node.args[1]
                for callee in scope.callees(ast.Call(func=target, args=[], keywords=[])):
                    functions.add(id(callee.node))
    return functions, classes, methods


def _message_types(ctx: Context) -> set[str]:
    """Consumer methods the project sends messages to: ``{"type": "chat.message"}`` names ``chat_message``."""
    names: set[str] = set()
    for module in ctx.project.modules:
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "type"
                        and isinstance(value, ast.Constant)
                        and isinstance(value.value, str)
                        and not value.value.startswith(("websocket.", "http."))
                    ):
                        names.add(value.value.replace(".", "_"))
    return names


def streaming_responses(ctx: Context) -> Iterator[tuple[Scope, ast.Call, ast.expr]]:
    """Every ``StreamingHttpResponse(...)`` of the project: its scope, the call, and its content argument as far
    as the scope can resolve it (a name bound to a generator call gives that call)."""
    for scope, call in ctx.all_calls():
        if scope.qualify(call.func) not in known_apis.STREAMING_RESPONSE:
            continue
        if call.args:
            content: ast.expr | None = call.args[0]
        else:
            content = next((k.value for k in call.keywords if k.arg == "streaming_content"), None)
        if content is not None:
            yield scope, call, scope.value_of(content)


def _streamed_generators(ctx: Context) -> list[Function]:
    """The generator functions whose generators the project hands to StreamingHttpResponse."""
    found: list[Function] = []
    for scope, _call, content in streaming_responses(ctx):
        if isinstance(content, ast.Call):
            found.extend(fn for fn in scope.callees(content) if is_generator(fn.node))
    return found


def handler_roots(ctx: Context) -> list[Function]:
    """Where per-request work starts: every entry except a consumer's once-per-connection methods."""
    return [entry.fn for entry in entries(ctx).values() if entry.role != "consumer"] + [
        fn for fn in ctx.project.functions() if fn.is_async and fn.takes_request() and fn.cls is None
    ]


def own_calls(fn: Function) -> list[ast.Call]:
    """The calls of a function's own body."""
    return [node for node in own_nodes(fn.node) if isinstance(node, ast.Call)]
