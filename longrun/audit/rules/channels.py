"""Rules for Channels (LR301-LR304): long work inside a consumer's message handlers, WebSocket routes open to any
origin, an ``asgi.py`` that loads models before Django is set up, and LLM work queued on the one thread that
thread-sensitive ``sync_to_async`` shares.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from longrun.audit import known_apis
from longrun.audit.analysis.calls import reached
from longrun.audit.analysis.context import Context
from longrun.audit.analysis.effects import short
from longrun.audit.analysis.entries import entries
from longrun.audit.analysis.kinds import ClientKind, QuerySetKind
from longrun.audit.analysis.project import FuncNode, Function, Module, Project, own_nodes, root_of
from longrun.audit.analysis.scope import Scope
from longrun.audit.model import Finding, Severity, check, rule

LONG_HANDLER = rule(
    "LR301",
    Severity.WARNING,
    "Long work (an LLM call, a token stream) inside a consumer's message handler",
    message="`{handler}` waits for {what}: every later message on this socket (a stop included) waits too. Start "
    "it with asyncio.create_task and cancel it on stop and in disconnect().",
    fix="Run the work as a task, `self.task = asyncio.create_task(self.generate(...))`, and cancel it on a stop "
    "message and in disconnect(): a consumer handles one message at a time, so a stop waits until the handler "
    "returns.",
)
NO_ORIGIN_CHECK = rule(
    "LR302",
    Severity.WARNING,
    "WebSocket route without origin validation",
    message='The "websocket" route accepts sockets from any origin: wrap it in AllowedHostsOriginValidator(...).',
    fix="Wrap the WebSocket app: `AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(...)))` (or "
    "OriginValidator), or any site can open a socket with your users' cookies.",
)
EARLY_IMPORT = rule(
    "LR303",
    Severity.ERROR,
    "Models loaded before get_asgi_application() in asgi.py",
    message="`{name}` is imported before get_asgi_application() sets Django up, and importing it loads {what}"
    "{chain}: AppRegistryNotReady. Move the import below it.",
    fix="Call `django_asgi_app = get_asgi_application()` first, then import routing and consumers "
    "(otherwise AppRegistryNotReady at start-up).",
)
SHARED_THREAD = rule(
    "LR304",
    Severity.WARNING,
    "LLM work through thread-sensitive sync_to_async in a consumer",
    message="{subject} runs {what} through thread-sensitive `sync_to_async`: in a consumer every such call shares one "
    "thread, so it queues behind (and blocks) every other socket's database work. {advice}.",
    fix="Await an async client instead; or pass `thread_sensitive=False` for work that touches no database "
    "connection (Channels issue #2132).",
)

SEND_METHODS = frozenset({"send", "send_json", "send_body", "group_send", "base_send"})
WRAPPERS = known_apis.SYNC_TO_ASYNC | known_apis.TO_THREAD


@check(LONG_HANDLER)
def long_handlers(ctx: Context) -> Iterator[Finding]:
    """Each message handler of a consumer: the first statement that waits on long work."""
    for entry in entries(ctx).values():
        if not entry.is_message_handler:
            continue
        fn = entry.fn
        found = _first_long_work(ctx, fn)
        if found is not None:
            line, what = found
            yield LONG_HANDLER.at(fn.module, line, handler=fn.name, what=what)


def _first_long_work(ctx: Context, fn: Function) -> tuple[int, str] | None:
    scope = ctx.scope(fn)
    for node in own_nodes(fn.node):
        if isinstance(node, ast.Await) and isinstance(node.value, ast.Call):
            what = _awaited_llm(ctx, scope, node.value)
            if what is not None:
                return node.lineno, what
        elif isinstance(node, ast.AsyncFor):
            if _relays(node) and not isinstance(scope.kind(node.iter), QuerySetKind):
                return node.lineno, f"a loop over `{short(node.iter)}` that sends as it goes"
        elif not fn.is_async and isinstance(node, ast.Call):
            # A sync consumer handler: an LLM call, directly or through the project's functions.
            for item in reached(ctx, fn):
                if item.effect.llm and (item.chain and item.chain[0].call is node or item.effect.node is node):
                    return node.lineno, f"`{short(node.func)}()` (an LLM call)"
    return None


def _relays(loop: ast.AsyncFor) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in SEND_METHODS
        for stmt in loop.body
        for n in ast.walk(stmt)
    )


def _awaited_llm(ctx: Context, scope: Scope, call: ast.Call) -> str | None:
    """What an awaited call waits on, when it is model work: an async LLM call, a project coroutine that makes
    one, or a sync function run in a thread (sync_to_async, to_thread, run_in_executor) that makes one."""
    if _async_llm_call(scope, call):
        return f"an LLM call `{short(call.func)}()`"
    callable_ = _wrapped_callable(scope, call)
    if callable_ is not None:
        if _callable_does_llm(ctx, scope, callable_):
            return f"`{short(callable_)}` run in a thread (an LLM call)"
        return None
    for callee in scope.callees(call):
        if callee.is_async and _coroutine_does_llm(ctx, callee):
            return f"`{short(call.func)}()` (an LLM call, {callee.where})"
    return None


def _async_llm_call(scope: Scope, call: ast.Call) -> bool:
    if not isinstance(call.func, ast.Attribute):
        return False
    kind = scope.kind(root_of(call.func))
    if not isinstance(kind, ClientKind):
        kind = scope.kind(call.func.value)
    if not isinstance(kind, ClientKind) or not kind.llm:
        return False
    entry = kind.entry
    method = call.func.attr
    if entry is None:  # a family object: ainvoke, astream, aquery...
        return method.startswith("a") and method[1:] in _family_blocking(kind.family)
    path = short(call.func.value, 200)
    quick = method in entry.quick or any(path.endswith("." + q) for q in entry.quick)
    if quick:
        return False
    if not entry.sync:
        return True
    return bool(
        (entry.async_suffix and method.endswith(entry.async_suffix))
        or (entry.async_path and f".{entry.async_path}." in f".{path}.")
    )


def _family_blocking(family: str) -> frozenset[str]:
    return next(f.blocking for f in known_apis.FAMILIES if f.name == family)


def _wrapped_callable(scope: Scope, call: ast.Call) -> ast.expr | None:
    """The callable a thread wrapper runs: ``sync_to_async(f)(...)``, ``to_thread(f, ...)``,
    ``loop.run_in_executor(executor, f, ...)``."""
    func = call.func
    if isinstance(func, ast.Call) and scope.qualify(func.func) in known_apis.SYNC_TO_ASYNC and func.args:
        return func.args[0]
    if scope.qualify(func) in known_apis.TO_THREAD and call.args:
        return call.args[0]
    if isinstance(func, ast.Attribute) and func.attr == "run_in_executor" and len(call.args) >= 2:
        return call.args[1]
    return None


def _callable_does_llm(ctx: Context, scope: Scope, target: ast.expr) -> bool:
    if isinstance(target, ast.Attribute):
        kind = scope.kind(root_of(target))
        if isinstance(kind, ClientKind) and kind.llm:
            return True
    for fn in scope.callees(ast.Call(func=target, args=[], keywords=[])):
        if any(item.effect.llm for item in reached(ctx, fn)):
            return True
    return False


def _coroutine_does_llm(ctx: Context, fn: Function, depth: int = 0) -> bool:
    """True when awaiting the project coroutine waits on model work (its own, or its callees', any depth)."""
    key = ("llm-coroutine", id(fn.node))
    cached = ctx._answers.get(key)
    if isinstance(cached, bool):
        return cached
    ctx._answers[key] = False  # the cycle guard: a coroutine awaiting itself adds nothing
    scope = ctx.scope(fn)
    result = any(item.effect.llm for item in reached(ctx, fn))
    if not result and depth < 8:
        for node in own_nodes(fn.node):
            if isinstance(node, ast.Await) and isinstance(node.value, ast.Call):
                if _async_llm_call(scope, node.value):
                    result = True
                    break
                target = _wrapped_callable(scope, node.value)
                if target is not None and _callable_does_llm(ctx, scope, target):
                    result = True
                    break
                if any(c.is_async and _coroutine_does_llm(ctx, c, depth + 1) for c in scope.callees(node.value)):
                    result = True
                    break
            elif (
                isinstance(node, ast.AsyncFor)
                and isinstance(node.iter, ast.Call)
                and (
                    _async_llm_call(scope, node.iter)
                    or any(c.is_async and _coroutine_does_llm(ctx, c, depth + 1) for c in scope.callees(node.iter))
                )
            ):
                result = True
                break
    ctx._answers[key] = result
    return result


@check(SHARED_THREAD)
def shared_thread(ctx: Context) -> Iterator[Finding]:
    """In consumer code: LLM work handed to thread-sensitive ``sync_to_async``/``database_sync_to_async``."""
    for fn in ctx.project.functions():
        if fn.cls is None or not fn.is_async or not ctx.project.is_consumer(fn.module, fn.cls):
            continue
        scope = ctx.scope(fn)
        for node in own_nodes(fn.node):
            if not isinstance(node, ast.Call):
                continue
            wrapper = node.func if isinstance(node.func, ast.Call) else None
            if wrapper is not None and scope.qualify(wrapper.func) in known_apis.SYNC_TO_ASYNC and wrapper.args:
                if _thread_sensitive(wrapper) and _callable_does_llm(ctx, scope, wrapper.args[0]):
                    yield SHARED_THREAD.at(
                        fn.module,
                        node.lineno,
                        subject=f"`{short(node)}` in `{fn.name}`",
                        what=f"`{short(wrapper.args[0])}` (an LLM call)",
                        advice="Await an async client instead",
                    )
                continue
            for callee in scope.callees(node):
                decorator = _thread_decorator(callee)
                if (
                    decorator is not None
                    and _thread_sensitive(decorator)
                    and any(item.effect.llm for item in reached(ctx, callee))
                ):
                    yield SHARED_THREAD.at(
                        fn.module,
                        node.lineno,
                        subject=f"`{short(node.func)}()` in `{fn.name}`",
                        what=f"`{callee.name}` (an LLM call, {callee.where})",
                        advice="Await an async client instead",
                    )
                    break


def _thread_sensitive(wrapper: ast.expr) -> bool:
    if not isinstance(wrapper, ast.Call):
        return True
    return not any(
        k.arg == "thread_sensitive" and isinstance(k.value, ast.Constant) and k.value.value is False
        for k in wrapper.keywords
    )


def _thread_decorator(fn: Function) -> ast.expr | None:
    for decorator in fn.node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if fn.module.qualify(target) in known_apis.SYNC_TO_ASYNC:
            return decorator
    return None


@check(NO_ORIGIN_CHECK)
def routers(ctx: Context) -> Iterator[Finding]:
    """A ``"websocket"`` route of ProtocolTypeRouter built from Channels' own pieces with no origin validator."""
    for module in ctx.project.modules:
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.Call) or not (module.qualify(node.func) or "").endswith("ProtocolTypeRouter"):
                continue
            mapping = node.args[0] if node.args else None
            if isinstance(mapping, ast.Name):
                mapping = _last(module, mapping.id)
            if not isinstance(mapping, ast.Dict):
                continue
            for key, value in zip(mapping.keys, mapping.values, strict=True):
                if not (isinstance(key, ast.Constant) and key.value == "websocket"):
                    continue
                app = _last(module, value.id) if isinstance(value, ast.Name) else value
                if app is not None and _open_to_any_origin(module, app):
                    yield NO_ORIGIN_CHECK.at(module, value.lineno)


def _last(module: Module, name: str) -> ast.expr | None:
    values = module.assigns.get(name, [])
    return values[-1] if values else None


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


@check(EARLY_IMPORT)
def early_imports(ctx: Context) -> Iterator[Finding]:
    """Imports above ``get_asgi_application()`` in a module that calls it, whose import chain loads models."""
    for module in ctx.project.modules:
        setup_line = _setup_line(module)
        if setup_line is None:
            continue
        for stmt in module.tree.body:
            if stmt.lineno >= setup_line or not isinstance(stmt, ast.Import | ast.ImportFrom):
                continue
            for alias in stmt.names:
                local = alias.asname or alias.name
                name = alias.name if isinstance(stmt, ast.Import) else module.imports.get(local, local)
                found = _loads_models(ctx.project, name, set())
                if found is not None:
                    what, through = found
                    chain = f" ({' -> '.join(through)})" if len(through) > 1 else ""
                    yield EARLY_IMPORT.at(module, stmt.lineno, name=name, what=what, chain=chain)
                    break


def _setup_line(module: Module) -> int | None:
    """The line of the first top-level statement that sets Django up, in a module that calls
    ``get_asgi_application()``: that call, or an explicit ``django.setup()`` before it (imports below either are
    safe)."""
    found: int | None = None
    for stmt in module.tree.body:
        if isinstance(stmt, FuncNode | ast.ClassDef):
            continue
        calls = [module.qualify(n.func) or "" for n in ast.walk(stmt) if isinstance(n, ast.Call)]
        if any(name == "django.setup" for name in calls) and found is None:
            found = stmt.lineno
        if any(name.endswith("get_asgi_application") for name in calls):
            return found if found is not None else stmt.lineno
    return None


def _loads_models(project: Project, name: str, seen: set[str]) -> tuple[str, list[str]] | None:
    """What importing ``name`` loads that needs the app registry (a module defining models, one calling
    ``get_user_model()`` at import, or a ``models`` module of an installed app), followed through the project's own
    modules' top-level imports at any depth; with the project modules the import goes through."""
    if name in seen:
        return None
    seen.add(name)
    parts = name.split(".")
    if parts[0] in {"channels", "daphne", "asgiref"}:
        return None
    module = project.by_name.get(name) or (project.by_name.get(".".join(parts[:-1])) if len(parts) > 1 else None)
    if module is None:
        if "models" in parts:
            return f"`{'.'.join(parts[: parts.index('models') + 1])}`", []
        return None
    if _defines_models(project, module):
        return f"the models of `{module.name}`", [module.name]
    if _calls_get_user_model(module):
        return f"`get_user_model()` (called when `{module.name}` is imported)", [module.name]
    for imported, _line in module.imported_modules:
        found = _loads_models(project, imported, seen)
        if found is not None:
            return found[0], [module.name, *found[1]]
    return None


def _defines_models(project: Project, module: Module) -> bool:
    return any(
        any(b.endswith("Model") or ".models." in b for b in project.base_names(module, cls))
        for cls in module.classes.values()
    )


def _calls_get_user_model(module: Module) -> bool:
    for stmt in module.tree.body:
        if isinstance(stmt, FuncNode | ast.ClassDef):
            continue
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call) and (module.qualify(node.func) or "").endswith("get_user_model"):
                return True
    return False
