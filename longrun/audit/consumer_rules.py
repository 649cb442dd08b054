"""Rules for Channels: long work inside a consumer's receive, WebSocket routes without origin checks, and an
``asgi.py`` that imports consumers before Django is set up.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from longrun.audit import catalog
from longrun.audit.async_rules import short
from longrun.audit.infer import ClientKind, Context, QuerySetKind, Scope
from longrun.audit.model import Finding, Severity, finding, rule
from longrun.audit.walker import FuncNode, Function, Module, Project, own_nodes, root_of

LONG_RECEIVE = rule(
    "LR301",
    Severity.WARNING,
    "Long work (a token stream, an LLM call) inside a consumer's receive",
    "Run the work as a task, `self.task = asyncio.create_task(self.generate(...))`, and cancel it on a stop message "
    "and in disconnect(): a consumer handles one message at a time, so a stop waits until receive returns.",
)
NO_ORIGIN_CHECK = rule(
    "LR302",
    Severity.WARNING,
    "WebSocket route without origin validation",
    "Wrap the WebSocket app: `AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(...)))` (or OriginValidator), "
    "or any site can open a socket with your users' cookies.",
)
EARLY_IMPORT = rule(
    "LR303",
    Severity.ERROR,
    "Modules that load models or consumers imported before get_asgi_application() in asgi.py",
    "Call `django_asgi_app = get_asgi_application()` first, then import routing and consumers "
    "(otherwise AppRegistryNotReady at start-up).",
)

# AsyncHttpConsumer.handle is left out: streaming a response from it is the intended pattern.
RECEIVE_METHODS = frozenset({"receive", "receive_json", "websocket_receive"})
SEND_METHODS = frozenset({"send", "send_json", "send_body", "group_send", "base_send"})
EARLY_MODULE_WORDS = ("consumers", "routing", "models", "views", "urls")


def check(ctx: Context) -> Iterator[Finding]:
    """Called by the engine: consumer, routing and asgi.py rules."""
    for fn in ctx.project.functions():
        if fn.cls is not None and fn.node.name in RECEIVE_METHODS and ctx.project.is_consumer(fn.module, fn.cls):
            yield from _long_receive(ctx, fn)
    for module in ctx.project.modules:
        yield from _routers(module)
        yield from _early_imports(ctx.project, module)


def _is_llm_call(scope: Scope, call: ast.Call) -> bool:
    """A call to an LLM SDK: on a known OpenAI/Anthropic client, or any ``....chat.completions.create(...)``."""
    if not isinstance(call.func, ast.Attribute) or call.func.attr not in {"create", "stream", "parse"}:
        return False
    root = scope.kind(root_of(call.func))
    if isinstance(root, ClientKind) and root.cls in catalog.LLM_CLIENT_CLASSES:
        return True
    return ".chat.completions." in f".{short(call.func, 500)}."


def _sends(body: list[ast.stmt]) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in SEND_METHODS
        for stmt in body
        for n in ast.walk(stmt)
    )


def _long_work(ctx: Context, fn: Function) -> tuple[int, str] | None:
    """The first long-running thing in a body: a stream relayed as it comes (async for, or for over an LLM call),
    or an LLM call. A plain loop over a list or a QuerySet that sends a few messages is not long work."""
    scope = ctx.scope(fn)
    for child in own_nodes(fn.node):
        if (
            isinstance(child, ast.AsyncFor)
            and _sends(child.body)
            and not isinstance(scope.kind(child.iter), QuerySetKind)
        ):
            return child.lineno, f"a loop over `{short(child.iter)}` that sends as it goes"
        if (
            isinstance(child, ast.For)
            and _sends(child.body)
            and any(isinstance(n, ast.Call) and _is_llm_call(scope, n) for n in ast.walk(scope.value_of(child.iter)))
        ):
            return child.lineno, f"a loop over `{short(child.iter)}` that sends as it goes"
        if isinstance(child, ast.Call) and _is_llm_call(scope, child):
            return child.lineno, f"an LLM call `{short(child.func)}()`"
    return None


def _long_receive(ctx: Context, fn: Function) -> Iterator[Finding]:
    found = _long_work(ctx, fn)
    if found is not None:
        line, what = found
        yield finding(
            LONG_RECEIVE,
            fn.module.rel,
            line,
            f"{what} inside `{fn.name}` holds back every later message "
            "on this socket (a stop included): run it with asyncio.create_task and cancel it on stop.",
        )
        return
    for node in own_nodes(fn.node):
        # Awaited (async consumer) or called as a statement (sync consumer): receive waits until it returns.
        call = node.value if isinstance(node, ast.Await | ast.Expr) else None
        if not isinstance(call, ast.Call):
            continue
        helper = ctx.project.resolve_call(fn, call)
        if helper is None or helper.cls is None:
            continue
        inner = _long_work(ctx, helper)
        if inner is not None:
            yield finding(
                LONG_RECEIVE,
                fn.module.rel,
                call.lineno,
                f"`{fn.name}` waits for `{short(call.func)}()`, "
                f"which runs {inner[1]} ({helper.module.rel}:{inner[0]}): every later message on this socket "
                "waits too. Start it with asyncio.create_task and cancel it on stop.",
            )


def _routers(module: Module) -> Iterator[Finding]:
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Call) or not (module.qualify(node.func) or "").endswith("ProtocolTypeRouter"):
            continue
        mapping = node.args[0] if node.args else None
        if isinstance(mapping, ast.Name):
            mapping = module.assigns.get(mapping.id)
        if not isinstance(mapping, ast.Dict):
            continue
        for key, value in zip(mapping.keys, mapping.values, strict=True):
            if not (isinstance(key, ast.Constant) and key.value == "websocket"):
                continue
            app = module.assigns.get(value.id) if isinstance(value, ast.Name) else value
            if app is not None and _open_to_any_origin(module, app):
                yield finding(
                    NO_ORIGIN_CHECK,
                    module.rel,
                    value.lineno,
                    'The "websocket" route accepts sockets from any '
                    "origin: wrap it in AllowedHostsOriginValidator(...).",
                )


def _open_to_any_origin(module: Module, app: ast.expr) -> bool:
    """True only when the whole WebSocket app is in sight, built from Channels' own pieces, with no origin validator.

    A wrapper of the project's own (or of another library) may well check the origin itself: then nothing is said.
    """
    for node in ast.walk(app):
        if not isinstance(node, ast.Call):
            continue
        name = module.qualify(node.func) or ""
        if name.endswith("OriginValidator"):
            return False
        if not (name.startswith("channels.") or (isinstance(node.func, ast.Attribute) and node.func.attr == "as_asgi")):
            return False
    return True


def _early_imports(project: Project, module: Module) -> Iterator[Finding]:
    setup_line = None
    for stmt in module.tree.body:
        if any(
            isinstance(n, ast.Call) and (module.qualify(n.func) or "").endswith("get_asgi_application")
            for n in ast.walk(stmt)
        ) and not isinstance(stmt, FuncNode | ast.ClassDef):
            setup_line = stmt.lineno
            break
    if setup_line is None:
        return
    for stmt in module.tree.body:
        if stmt.lineno >= setup_line or not isinstance(stmt, ast.Import | ast.ImportFrom):
            continue
        for alias in stmt.names:
            # The walker resolved relative imports; `import a.b` is looked up by its full name.
            local = alias.asname or alias.name
            name = alias.name if isinstance(stmt, ast.Import) else module.imports.get(local, local)
            if _needs_apps(project, name):
                yield finding(
                    EARLY_IMPORT,
                    module.rel,
                    stmt.lineno,
                    f"`{name}` is imported before "
                    "get_asgi_application() sets Django up (AppRegistryNotReady): move the import below it.",
                )
                break


def _needs_apps(project: Project, name: str) -> bool:
    """True when importing ``name`` loads models or consumers: by its name, or (a module of the project) by its
    own imports, one level down."""
    parts = name.split(".")
    if parts[0] in {"django", "channels"}:
        return False
    if any(word in parts for word in EARLY_MODULE_WORDS):
        return True
    target = project.by_name.get(name) or project.by_name.get(name.rpartition(".")[0])
    if target is None:
        return False
    return any(
        any(word in imported.split(".") for word in EARLY_MODULE_WORDS)
        or imported.startswith(("channels.generic", "django.contrib.auth.models"))
        for imported in target.imports.values()
    )
