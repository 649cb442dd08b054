"""Rules for async functions: what blocks the event loop or raises SynchronousOnlyOperation inside them.

A sync helper of the project called straight from an async function is read too (one level): its blocking call
is reported at the call in the async function, where the fix (``await sync_to_async(helper)(...)``) belongs.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from longrun.audit import catalog
from longrun.audit.infer import ClientKind, Context, InstanceKind, QuerySetKind, Scope
from longrun.audit.model import Finding, Rule, Severity, finding, rule
from longrun.audit.walker import Function, Module, own_nodes, root_of

BLOCKING_NETWORK = rule(
    "LR101",
    Severity.ERROR,
    "Blocking network call (requests, urllib, httpx.Client, sync OpenAI/Anthropic, socket) in an async function",
    "Use an async client built once per process (httpx.AsyncClient, AsyncOpenAI, AsyncAnthropic, aiohttp)"
    " and await it; "
    "or move the call into a sync function run with `await sync_to_async(func)(...)`.",
)
SLEEP = rule(
    "LR102",
    Severity.ERROR,
    "time.sleep() in an async function",
    "Replace `time.sleep(x)` with `await asyncio.sleep(x)`.",
    fixable=True,
)
FILE_IO = rule(
    "LR103",
    Severity.WARNING,
    "Blocking file I/O (open(), Path.read_text()...) in an async function",
    "Read the file once at start-up, or run the I/O with `await asyncio.to_thread(func, ...)` (or use aiofiles/anyio).",
)
SYNC_ORM = rule(
    "LR104",
    Severity.ERROR,
    "Sync ORM call (.get(), .save(), .count()...) in an async function",
    "Use the `a`-prefixed twin (`await qs.aget()`, `await obj.asave()`, `await qs.acount()`...), or put the ORM work "
    "in one sync function called with `await sync_to_async(func)(...)`.",
    fixable=True,
)
SYNC_ITERATION = rule(
    "LR105",
    Severity.ERROR,
    "QuerySet evaluated synchronously (for, list(), len(), comprehension) in an async function",
    "Iterate with `async for obj in qs` (or `[obj async for obj in qs]`), count with `await qs.acount()`.",
    fixable=True,
)
ASYNC_TO_SYNC = rule(
    "LR106",
    Severity.ERROR,
    "async_to_sync() called inside an async function",
    "Await the coroutine directly: `await func(...)`."
    " async_to_sync raises RuntimeError on a thread with a running loop.",
)
UNSAFE_THREAD = rule(
    "LR107",
    Severity.WARNING,
    "ORM run through sync_to_async(thread_sensitive=False)",
    "Drop `thread_sensitive=False` for database work (connections opened on pool threads are never closed), or close "
    "the connection inside the function (`connection.close()` in a finally block).",
)
REQUEST_USER = rule(
    "LR108",
    Severity.ERROR,
    "request.user read in async code",
    "Use `user = await request.auser()`: request.user is a lazy object that queries the session synchronously.",
)
LAZY_RELATION = rule(
    "LR109",
    Severity.ERROR,
    "Lazy related-object access (obj.author) in an async function, not loaded by select_related",
    'Load the relation in the query: `.select_related("author")` (or prefetch_related), or read `obj.author_id`.',
)
ATOMIC = rule(
    "LR110",
    Severity.ERROR,
    "transaction.atomic in an async function",
    "Put the transaction in one sync function and call it with `await sync_to_async(func)(...)`:"
    " async code cannot hold one.",
)

# What a sync helper can do that also blocks (or raises in) the async function that calls it.
FOLLOWED = (BLOCKING_NETWORK, SLEEP, SYNC_ORM, SYNC_ITERATION, ASYNC_TO_SYNC)


@dataclass(frozen=True, slots=True)
class Hit:
    """A blocking call found in a function body, before it becomes a finding."""

    rule: Rule
    line: int
    what: str
    node: ast.AST
    twin: str = ""  # the awaited replacement, when there is one


def short(node: ast.AST, limit: int = 60) -> str:
    """A one-line rendering of a node for messages."""
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def awaited_calls(fn: Function) -> set[int]:
    """Ids of the calls in ``fn`` that are awaited: those return awaitables and so are not sync calls."""
    return {id(node.value) for node in own_nodes(fn.node) if isinstance(node, ast.Await)}


def blocking_hits(ctx: Context, fn: Function) -> list[Hit]:
    """Every blocking call in the function's own body (network, sleep, ORM, iteration, async_to_sync, file I/O)."""
    scope = ctx.scope(fn)
    awaited = awaited_calls(fn)
    hits: list[Hit] = []
    for node in own_nodes(fn.node):
        if isinstance(node, ast.Call) and id(node) not in awaited:
            hit = _call_hit(scope, node)
            if hit is not None:
                hits.append(hit)
        elif isinstance(node, ast.For) and isinstance(scope.kind(node.iter), QuerySetKind):
            hits.append(Hit(SYNC_ITERATION, node.lineno, f"for ... in {short(node.iter)}", node))
        elif (
            isinstance(node, ast.comprehension)
            and not node.is_async
            and isinstance(scope.kind(node.iter), QuerySetKind)
        ):
            hits.append(Hit(SYNC_ITERATION, node.iter.lineno, f"a comprehension over {short(node.iter)}", node))
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and not isinstance(node.slice, ast.Slice)
            and isinstance(scope.kind(node.value), QuerySetKind)
        ):
            # qs[0] runs the query (qs[:5] does not: a slice is another lazy QuerySet).
            hits.append(Hit(SYNC_ITERATION, node.lineno, f"indexing {short(node)}", node))
    return hits


def _twin(call: ast.Call, name: str) -> str:
    """``await`` of the call with its function renamed: what a sync ORM call becomes (QuerySet.iterator has none)."""
    if isinstance(call.func, ast.Attribute) and call.func.attr == "iterator":
        return ""
    func: ast.expr = ast.Attribute(call.func.value, name) if isinstance(call.func, ast.Attribute) else ast.Name(name)
    return "await " + short(ast.Call(func, call.args, call.keywords))


def _call_hit(scope: Scope, call: ast.Call) -> Hit | None:
    qualname = scope.qualify(call.func)
    line = call.lineno
    if qualname == "time.sleep":
        return Hit(SLEEP, line, "time.sleep()", call)
    if qualname in catalog.BLOCKING_NETWORK_FUNCS:
        return Hit(BLOCKING_NETWORK, line, f"{qualname}()", call)
    if isinstance(call.func, ast.Call) and scope.qualify(call.func.func) == catalog.ASYNC_TO_SYNC:
        # Only calling the wrapper fails on the loop's thread; building it (to hand to sync code) is fine.
        return Hit(ASYNC_TO_SYNC, line, short(call), call)
    if qualname in catalog.SYNC_DB_FUNCTIONS:
        return Hit(SYNC_ORM, line, short(call), call, _twin(call, catalog.SYNC_DB_FUNCTIONS[qualname]))
    if qualname in {"open", "io.open"}:
        return Hit(FILE_IO, line, short(call), call)
    if qualname in catalog.EVALUATING_BUILTINS and call.args and isinstance(scope.kind(call.args[0]), QuerySetKind):
        return Hit(SYNC_ITERATION, line, short(call), call)
    if not isinstance(call.func, ast.Attribute):
        return None
    method = call.func.attr
    receiver = scope.kind(call.func.value)
    if isinstance(receiver, QuerySetKind) and method in catalog.QUERYSET_SQL:
        return Hit(SYNC_ORM, line, short(call), call, _twin(call, "a" + method))
    if isinstance(receiver, InstanceKind) and method in catalog.INSTANCE_SQL:
        return Hit(SYNC_ORM, line, short(call), call, _twin(call, "a" + method))
    if method in catalog.FILE_METHODS:
        return Hit(FILE_IO, line, short(call), call)
    root = scope.kind(root_of(call.func))
    if isinstance(root, ClientKind) and root.is_sync and method in catalog.CLIENT_NETWORK_METHODS:
        return Hit(BLOCKING_NETWORK, line, f"{short(call.func)}() on a sync {root.cls} client", call)
    return None


def followable(ctx: Context, fn: Function, call: ast.Call) -> Function | None:
    """The project's sync function a call runs in this thread, when its body is worth reading."""
    helper = ctx.project.resolve_call(fn, call)
    if helper is None or helper.is_async or helper.node is fn.node:
        return None
    if any(isinstance(n, ast.Yield | ast.YieldFrom) for n in own_nodes(helper.node)):
        return None  # calling a generator function runs none of its body
    for decorator in helper.node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if helper.module.qualify(target) in catalog.SYNC_TO_ASYNC:
            return None
    return None if helper.node.name == "__init__" else helper


def helper_hits(ctx: Context, fn: Function, rules: tuple[Rule, ...]) -> Iterator[tuple[ast.Call, Function, Hit]]:
    """Blocking calls one level down: each call in ``fn`` to a sync project helper whose body has one of ``rules``."""
    awaited = awaited_calls(fn)
    for node in own_nodes(fn.node):
        if not isinstance(node, ast.Call) or id(node) in awaited:
            continue
        helper = followable(ctx, fn, node)
        if helper is None:
            continue
        for hit in blocking_hits(ctx, helper):
            if hit.rule in rules:
                yield node, helper, hit
                break


def _emit(module: Module, rule_: Rule, line: int, message: str) -> Finding:
    return finding(rule_, module.rel, line, message)


# What each directly found blocking call does inside an async function, and the fix, by rule id.
DIRECT_MESSAGES = {
    SLEEP.id: "{what} in {where} stops the whole event loop: use `await asyncio.sleep(...)`.",
    BLOCKING_NETWORK.id: "{what} in {where} blocks the event loop for the whole network call: use an async client and "
    "await it.",
    SYNC_ORM.id: "`{what}` in {where} raises SynchronousOnlyOperation: use `{twin}`.",
    SYNC_ITERATION.id: "{what} in {where} runs the query synchronously: use `async for` (or `await qs.acount()`).",
    ASYNC_TO_SYNC.id: "`{what}` in {where} raises RuntimeError on the loop's thread: await the coroutine directly.",
    FILE_IO.id: "`{what}` in {where} blocks the event loop on disk I/O: use `await asyncio.to_thread(...)`.",
}


def check(ctx: Context) -> Iterator[Finding]:
    """Called by the engine: every async-function rule over every async function of the project."""
    for fn in ctx.project.functions():
        if not fn.is_async:
            continue
        for hit in blocking_hits(ctx, fn):
            template = DIRECT_MESSAGES[hit.rule.id]
            if hit.rule is SYNC_ORM and not hit.twin:
                template = "`{what}` in {where} raises SynchronousOnlyOperation: move it into `sync_to_async`."
            message = template.format(what=hit.what, where=f"async `{fn.name}`", twin=hit.twin)
            yield _emit(fn.module, hit.rule, hit.line, message)
        for call, helper, hit in helper_hits(ctx, fn, FOLLOWED):
            yield _emit(
                fn.module,
                hit.rule,
                call.lineno,
                f"`{short(call.func)}()` called from async `{fn.name}` runs {hit.what} "
                f"({helper.module.rel}:{hit.line}) on the event loop: call it as "
                f"`await sync_to_async({short(call.func)})(...)`, or make `{helper.name}` async.",
            )
        yield from _request_user(fn)
        yield from _lazy_relations(ctx, fn)
        yield from _atomic(fn)
    yield from _thread_unsafe_orm(ctx)


def _request_user(fn: Function) -> Iterator[Finding]:
    for node in own_nodes(fn.node):
        if not (isinstance(node, ast.Attribute) and node.attr == "user" and isinstance(node.ctx, ast.Load)):
            continue
        owner = node.value
        if not fn.module.uses_django:
            return
        # The function's own request (a parameter), not a closure's or a test double's.
        if (isinstance(owner, ast.Name) and owner.id == "request" and "request" in fn.params()) or (
            isinstance(owner, ast.Attribute)
            and owner.attr == "request"
            and isinstance(owner.value, ast.Name)
            and owner.value.id == "self"
        ):
            yield _emit(
                fn.module,
                REQUEST_USER,
                node.lineno,
                f"`{short(node)}` in async `{fn.name}` may query the session synchronously (SynchronousOnlyOperation): "
                "use `await request.auser()`.",
            )


def _lazy_relations(ctx: Context, fn: Function) -> Iterator[Finding]:
    scope = ctx.scope(fn)
    for node in own_nodes(fn.node):
        if not (
            isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load) and isinstance(node.value, ast.Name)
        ):
            continue
        kind = scope.kind(node.value)
        if not isinstance(kind, InstanceKind) or kind.related is None or node.attr in kind.related:
            continue
        if node.attr in ctx.relations.get(kind.model, frozenset()):
            yield _emit(
                fn.module,
                LAZY_RELATION,
                node.lineno,
                f"`{short(node)}` in async `{fn.name}` loads the related object lazily (SynchronousOnlyOperation): "
                f'add `.select_related("{node.attr}")` to the query, or use `{short(node.value)}.{node.attr}_id`.',
            )


def _atomic(fn: Function) -> Iterator[Finding]:
    for decorator in fn.node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if fn.module.qualify(target) == catalog.ATOMIC:
            yield _emit(
                fn.module,
                ATOMIC,
                decorator.lineno,
                f"@transaction.atomic on async `{fn.name}` cannot work: "
                "move the transaction into a sync function run with `await sync_to_async(func)()`.",
            )
    for node in own_nodes(fn.node):
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                expr = item.context_expr
                target = expr.func if isinstance(expr, ast.Call) else expr
                if fn.module.qualify(target) == catalog.ATOMIC:
                    yield _emit(
                        fn.module,
                        ATOMIC,
                        node.lineno,
                        f"transaction.atomic() in async `{fn.name}` cannot "
                        "work: move the block into a sync function run with `await sync_to_async(func)()`.",
                    )


def _runs_orm(ctx: Context, scope: Scope, owner: Function | None, target: ast.expr) -> bool:
    if isinstance(target, ast.Lambda):
        for node in ast.walk(target.body):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if isinstance(scope.kind(node.func.value), QuerySetKind | InstanceKind):
                    return node.func.attr in catalog.QUERYSET_SQL | catalog.INSTANCE_SQL
        return False
    if isinstance(target, ast.Attribute) and isinstance(scope.kind(target.value), QuerySetKind | InstanceKind):
        return target.attr in catalog.QUERYSET_SQL | catalog.INSTANCE_SQL
    helper = ctx.project.resolve_call(owner, ast.Call(func=target, args=[], keywords=[])) if owner else None
    if helper is None:
        qualname = scope.module.qualify(target)
        helper = ctx.project.function(qualname) if qualname else None
    return helper is not None and _helper_runs_orm(ctx, helper)


def _helper_runs_orm(ctx: Context, helper: Function) -> bool:
    if _closes_connection(helper):
        return False
    return any(hit.rule in (SYNC_ORM, SYNC_ITERATION) for hit in blocking_hits(ctx, helper))


def _closes_connection(fn: Function) -> bool:
    # A function that hands its connection back itself is the documented way to use a pool thread safely.
    for node in own_nodes(fn.node):
        if isinstance(node, ast.Call):
            name = fn.module.qualify(node.func) or ""
            if name.endswith("close_old_connections") or (
                isinstance(node.func, ast.Attribute)
                and node.func.attr in {"close", "close_all"}
                and "connection" in short(node.func.value)
            ):
                return True
    return False


def _thread_unsafe_calls(module: Module) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(module.tree)
        if isinstance(node, ast.Call)
        and module.qualify(node.func) == "asgiref.sync.sync_to_async"
        and any(
            k.arg == "thread_sensitive" and isinstance(k.value, ast.Constant) and k.value.value is False
            for k in node.keywords
        )
    ]


def _thread_unsafe_orm(ctx: Context) -> Iterator[Finding]:
    by_module: dict[int, list[Function]] = {}
    for fn in ctx.project.functions():
        by_module.setdefault(id(fn.module), []).append(fn)
    for module in ctx.project.modules:
        calls = _thread_unsafe_calls(module)
        if not calls:
            continue
        functions = by_module.get(id(module), [])
        owners = {id(node): fn for fn in functions for node in own_nodes(fn.node)}
        for node in calls:
            owner = owners.get(id(node))
            scope = ctx.scope(owner) if owner else ctx.module_scope(module)
            decorated = next((fn for fn in functions if any(d is node for d in fn.node.decorator_list)), None)
            if (node.args and _runs_orm(ctx, scope, owner, node.args[0])) or (
                decorated is not None and _helper_runs_orm(ctx, decorated)
            ):
                yield _emit(
                    module,
                    UNSAFE_THREAD,
                    node.lineno,
                    "ORM work through `sync_to_async(..., thread_sensitive="
                    "False)` opens connections on pool threads that nothing closes: drop the flag, or close "
                    "the connection inside the function.",
                )
