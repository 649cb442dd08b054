"""Rules for the request path and network clients: sync views that wait on the network, streams Django buffers
under ASGI, clients rebuilt per request, calls that can wait for ever.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from longrun.audit import catalog
from longrun.audit.async_rules import BLOCKING_NETWORK, blocking_hits, followable, helper_hits, short
from longrun.audit.infer import ClientKind, Context, Scope
from longrun.audit.model import Finding, Severity, finding, rule
from longrun.audit.walker import FuncNode, Function, Module, is_generator, own_nodes

SYNC_VIEW_NETWORK = rule(
    "LR201",
    Severity.WARNING,
    "Blocking network call (an LLM or HTTP call) in a sync view",
    "Make the view `async def` and await an async client (AsyncOpenAI, httpx.AsyncClient): a sync view holds a worker "
    "(under ASGI, a thread) for the whole call, and a client that leaves does not stop it.",
)
SYNC_STREAM = rule(
    "LR202",
    Severity.WARNING,
    "Sync generator handed to StreamingHttpResponse",
    "Stream from an async generator (`async def ...: yield`); for a sync one, wrap it: "
    "`StreamingHttpResponse(longrun.bridges.streaming_content_for(request, gen))`.",
)
CLIENT_PER_REQUEST = rule(
    "LR203",
    Severity.WARNING,
    "HTTP or LLM client built per request (in a view or consumer)",
    "Build the client once per process (a module-level client, or a cached factory) and reuse it: each new client "
    "opens a new connection pool and new TLS handshakes.",
)
NO_TIMEOUT = rule(
    "LR204",
    Severity.WARNING,
    "Network call with no timeout (requests, urlopen, socket, or timeout=None)",
    "Pass `timeout=` (seconds): without one a stalled server holds the call, and its worker or task, for ever.",
)
LLM_DEFAULT_TIMEOUT = rule(
    "LR205",
    Severity.INFO,
    "LLM SDK client built without an explicit timeout (the SDK default is 10 minutes)",
    "Pass `timeout=` to the client (for example `httpx.Timeout(60, connect=10)`) so a stalled stream ends.",
)


def is_handler(ctx: Context, fn: Function) -> bool:
    """True for the request path: a view (first parameter ``request``) or a method of a Channels consumer."""
    if fn.takes_request():
        return True
    return fn.cls is not None and ctx.project.is_consumer(fn.module, fn.cls)


def check(ctx: Context) -> Iterator[Finding]:
    """Called by the engine: the view and client rules over every function and module top level."""
    for fn in ctx.project.functions():
        if fn.takes_request() and not fn.is_async:
            yield from _sync_view_network(ctx, fn)
        if is_handler(ctx, fn):
            yield from _client_per_request(ctx, fn)
    for scope, call in _all_calls(ctx):
        yield from _streams(ctx, scope, call)
        yield from _timeouts(scope, call)


def _sync_view_network(ctx: Context, fn: Function) -> Iterator[Finding]:
    for hit in blocking_hits(ctx, fn):
        if hit.rule is BLOCKING_NETWORK:
            yield finding(
                SYNC_VIEW_NETWORK,
                fn.module.rel,
                hit.line,
                f"{hit.what} in {_what(fn)} `{fn.name}` holds "
                "a worker for the whole call: make it async and await an async client.",
            )
    for call, helper, hit in helper_hits(ctx, fn, (BLOCKING_NETWORK,)):
        if helper.takes_request():
            continue  # reported in the helper itself
        yield finding(
            SYNC_VIEW_NETWORK,
            fn.module.rel,
            call.lineno,
            f"`{short(call.func)}()` in {_what(fn)} `{fn.name}` runs {hit.what} ({helper.module.rel}:{hit.line}), "
            f"holding a worker for the whole call: make it async and await an async twin of `{helper.name}`.",
        )


def _what(fn: Function) -> str:
    return "sync middleware" if fn.node.name.startswith("process_") or fn.node.name == "__call__" else "sync view"


def _client_per_request(ctx: Context, fn: Function) -> Iterator[Finding]:
    for node in own_nodes(fn.node):
        if isinstance(node, ast.Call) and ctx.scope(fn).qualify(node.func) in catalog.POOLED_CLIENT_CLASSES:
            yield finding(
                CLIENT_PER_REQUEST,
                fn.module.rel,
                node.lineno,
                f"`{short(node.func)}(...)` is built on every "
                f"call of `{fn.name}`: build it once per process and reuse it.",
            )
        elif isinstance(node, ast.Call) and (helper := followable(ctx, fn, node)) is not None:
            built = _builds_client(helper)
            if built is not None:
                yield finding(
                    CLIENT_PER_REQUEST,
                    fn.module.rel,
                    node.lineno,
                    f"`{short(node.func)}()` builds a new "
                    f"{built} on every call of `{fn.name}` ({helper.module.rel}:{helper.node.lineno}): "
                    "cache it once per process.",
                )


def _builds_client(helper: Function) -> str | None:
    """The client class a helper builds afresh on each call; None when it caches (decorator, global) or builds none."""
    if helper.node.decorator_list or any(isinstance(n, ast.Global) for n in own_nodes(helper.node)):
        return None
    for node in own_nodes(helper.node):
        built: list[ast.expr] = []
        if isinstance(node, ast.Return) and node.value is not None:
            built = [node.value]
        elif isinstance(node, ast.With | ast.AsyncWith):
            built = [item.context_expr for item in node.items]
        for expr in built:
            if (
                isinstance(expr, ast.Call)
                and (name := helper.module.qualify(expr.func)) in catalog.POOLED_CLIENT_CLASSES
            ):
                return name
    return None


def _all_calls(ctx: Context) -> Iterator[tuple[Scope, ast.Call]]:
    for fn in ctx.project.functions():
        scope = ctx.scope(fn)
        for node in own_nodes(fn.node):
            if isinstance(node, ast.Call):
                yield scope, node
    for module in ctx.project.modules:
        scope = ctx.module_scope(module)
        for node in _module_level(module):
            if isinstance(node, ast.Call):
                yield scope, node


def _module_level(module: Module) -> Iterator[ast.AST]:
    stack: list[ast.AST] = list(module.tree.body)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, FuncNode | ast.Lambda):
            stack.extend([*node.decorator_list] if isinstance(node, FuncNode) else [])
            continue
        if isinstance(node, ast.ClassDef):
            stack.extend(s for s in node.body if not isinstance(s, FuncNode))
            stack.extend(s for s in node.body if isinstance(s, FuncNode))
            continue
        stack.extend(ast.iter_child_nodes(node))


def _streams(ctx: Context, scope: Scope, call: ast.Call) -> Iterator[Finding]:
    if scope.qualify(call.func) not in catalog.STREAMING_RESPONSE:
        return
    content = (
        call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "streaming_content"), None)
    )
    if content is None:
        return
    content = scope.value_of(content)
    generator: str | None = None
    if isinstance(content, ast.GeneratorExp):
        generator = "a generator expression"
    elif isinstance(content, ast.Call) and scope.fn is not None:
        helper = _called_function(ctx, scope.fn, scope, content)
        if helper is not None and not helper.is_async and is_generator(helper.node):
            generator = f"the sync generator `{helper.name}()`"
    if generator is not None:
        yield finding(
            SYNC_STREAM,
            scope.module.rel,
            call.lineno,
            f"StreamingHttpResponse gets {generator}: under ASGI "
            "Django reads it whole before sending a byte. Stream from an async generator instead.",
        )


def _called_function(ctx: Context, fn: Function, scope: Scope, call: ast.Call) -> Function | None:
    """The function a call in ``fn`` runs: one defined inside ``fn`` (``def gen(): ...`` then ``gen()``), which hides
    a module-level one of the same name, else the project's own that ``resolve_call`` finds."""
    if isinstance(call.func, ast.Name):
        name = call.func.id
        nested = [n for n in own_nodes(fn.node) if isinstance(n, FuncNode) and n.name == name]
        if len(nested) == 1 and name not in scope.local_names:
            return Function(fn.module, nested[0], None)
        if nested:
            return None  # defined twice, or also assigned or a parameter: which one runs is not known
    return ctx.project.resolve_call(fn, call)


def _timeouts(scope: Scope, call: ast.Call) -> Iterator[Finding]:
    qualname = scope.qualify(call.func) or ""
    if any(k.arg is None for k in call.keywords):
        return  # `**options` may well carry the timeout
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    timeout = keywords.get("timeout")
    explicit_none = isinstance(timeout, ast.Constant) and timeout.value is None
    if qualname in catalog.POOLED_CLIENT_CLASSES or qualname in catalog.BLOCKING_NETWORK_FUNCS:
        if explicit_none:
            yield finding(
                NO_TIMEOUT,
                scope.module.rel,
                call.lineno,
                f"`{qualname}(timeout=None)` waits for ever on a stalled server: pass a timeout in seconds.",
            )
            return
    if qualname in catalog.NO_DEFAULT_TIMEOUT_FUNCS:
        position = catalog.TIMEOUT_POSITION.get(qualname)
        if "timeout" not in keywords and (position is None or len(call.args) <= position):
            yield finding(
                NO_TIMEOUT,
                scope.module.rel,
                call.lineno,
                f"`{qualname}()` has no timeout and can wait for ever: pass `timeout=` in seconds.",
            )
        return
    if qualname in catalog.LLM_CLIENT_CLASSES and "timeout" not in keywords:
        yield finding(
            LLM_DEFAULT_TIMEOUT,
            scope.module.rel,
            call.lineno,
            f"`{qualname}()` without `timeout=` waits up to 10 minutes on a stalled call: pass a timeout.",
        )
        return
    if isinstance(call.func, ast.Attribute) and call.func.attr in catalog.HTTP_VERBS:
        receiver = scope.kind(call.func.value)
        if isinstance(receiver, ClientKind) and receiver.cls in catalog.REQUESTS_SESSIONS:
            if "timeout" not in keywords:
                yield finding(
                    NO_TIMEOUT,
                    scope.module.rel,
                    call.lineno,
                    f"`{short(call.func)}()` on a requests "
                    "Session has no timeout and can wait for ever: pass `timeout=` in seconds.",
                )
