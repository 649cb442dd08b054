"""Rules for async functions (LR101-LR112): what blocks the event loop or raises on it, found in the function's own
body or in the sync project functions it calls, at any depth.

A blocking call in a sync helper is reported at the call of the helper in the async function, with the chain
(``view -> helper() (app/helpers.py:12) -> requests.post()``): the fix (``await sync_to_async(helper)(...)``, or
an async twin of the helper) belongs there, since the helper is fine when sync code calls it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from longrun.audit import django_versions, known_apis
from longrun.audit.analysis.calls import Link, Reached, reached, render_chain, sync_callees
from longrun.audit.analysis.context import Context
from longrun.audit.analysis.effects import (
    BRIDGE,
    CACHE,
    FILE,
    ITERATE,
    NETWORK,
    ORM,
    PROCESS,
    SLEEP,
    Effect,
    short,
)
from longrun.audit.analysis.kinds import InstanceKind, QuerySetKind
from longrun.audit.analysis.loops import off_loop
from longrun.audit.analysis.project import Function, own_nodes
from longrun.audit.analysis.scope import Scope
from longrun.audit.fixers import async_for, await_call, rename_call
from longrun.audit.model import Edit, Finding, Rule, Severity, check, rule
from longrun.audit.settings_source import alternatives, read_settings, settings_modules

BLOCKING_NETWORK = rule(
    "LR101",
    Severity.ERROR,
    "Blocking network call in an async function",
    message="{subject} blocks the event loop for the whole network call{chain}: {advice}.",
    fix="Use an async client built once per process (httpx.AsyncClient, AsyncOpenAI, AsyncAnthropic, ...) and await "
    "it; or move the call into a sync function run with `await sync_to_async(func)(...)`.",
)
SLEEP_RULE = rule(
    "LR102",
    Severity.ERROR,
    "time.sleep() in an async function",
    message="{subject} stops the whole event loop{chain}: {advice}.",
    fix="`await asyncio.sleep(...)`: time.sleep stops every request on this event loop.",
    fix_title="Replace with `await asyncio.sleep(...)`",
    fixer=await_call,
)
FILE_IO = rule(
    "LR103",
    Severity.WARNING,
    "Blocking file I/O in an async function",
    message="{subject} blocks the event loop on disk I/O{chain}: {advice}.",
    fix="Read the file once at start-up, or run the I/O in a thread: `await asyncio.to_thread(func, ...)`.",
)
SYNC_ORM = rule(
    "LR104",
    Severity.ERROR,
    "Sync ORM call in an async function",
    message="{subject} raises SynchronousOnlyOperation{chain}: {advice}.",
    fix="Use the awaited `a`-prefixed twin (`await qs.aget()`, `await obj.asave()`), or run the ORM work in one sync "
    "function through `sync_to_async`.",
    fix_title="Await the `a`-prefixed twin",
    fixer=rename_call,
)
SYNC_ITERATION = rule(
    "LR105",
    Severity.ERROR,
    "QuerySet evaluated synchronously in an async function",
    message="{subject} runs the query synchronously (SynchronousOnlyOperation){chain}: {advice}.",
    fix="Iterate with `async for`, build lists with `[x async for x in qs]`, count with `await qs.acount()`, test "
    "with `await qs.aexists()`.",
    fix_title="Use `async for`, `acount()` or `aexists()`",
    fixer=async_for,
)
ASYNC_TO_SYNC = rule(
    "LR106",
    Severity.ERROR,
    "async_to_sync() called inside an async function",
    message="{subject} raises RuntimeError on the loop's thread{chain}: {advice}.",
    fix="Await the coroutine directly: `await func(...)`. async_to_sync raises RuntimeError on a thread with a running "
    "loop.",
)
UNSAFE_THREAD = rule(
    "LR107",
    Severity.WARNING,
    "ORM work on a thread pool (sync_to_async(thread_sensitive=False), asyncio.to_thread, run_in_executor)",
    message="ORM work through `{how}` opens connections on pool threads that nothing closes: use "
    "`sync_to_async` (thread-sensitive, the default), or close the connection inside the function.",
    fix="Run database work through `sync_to_async` (thread-sensitive, the default); or close the connection inside "
    "the function (`connection.close()` in a `finally`).",
)
REQUEST_USER = rule(
    "LR108",
    Severity.ERROR,
    "request.user read in async code",
    message="`{expr}` in async `{fn}` may query the session synchronously (SynchronousOnlyOperation): {advice}.",
    fix="`user = await request.auser()` (Django 5.0+), then use `user`.",
)
LAZY_RELATION = rule(
    "LR109",
    Severity.ERROR,
    "Lazy forward relation read in an async function, not loaded by select_related",
    message="`{expr}` in async `{fn}` loads the related object lazily (SynchronousOnlyOperation): add "
    '`.select_related("{attr}")` to the query, or use `{owner}.{attr}_id`.',
    fix='Load the relation in the query: `.select_related("author")` (or prefetch_related), or read `obj.author_id`.',
)
ATOMIC = rule(
    "LR110",
    Severity.ERROR,
    "transaction.atomic in an async function",
    message="{subject} in async `{fn}` cannot work: move the transaction into a sync function run with "
    "`await sync_to_async(func)()`.",
    fix="Put the transaction in one sync function and call it with `await sync_to_async(func)(...)`: async code "
    "cannot hold one.",
)
CACHE_RULE = rule(
    "LR111",
    Severity.WARNING,
    "Django cache API called synchronously in async code",
    message="{subject} is a blocking round trip to the cache on the event loop{chain}: {advice}.",
    fix="Use the cache's `a`-prefixed twins: `await cache.aget(...)`, `await cache.aset(...)` (Django 4.0+).",
    fix_title="Await the cache's `a`-prefixed twin",
    fixer=rename_call,
)
PROCESS_RULE = rule(
    "LR112",
    Severity.ERROR,
    "Blocking subprocess call in an async function",
    message="{subject} waits for a process on the event loop{chain}: {advice}.",
    fix="`await asyncio.create_subprocess_exec(...)` and `await proc.communicate()`, or "
    "`await asyncio.to_thread(subprocess.run, ...)`.",
)

BY_CATEGORY: dict[str, Rule] = {
    NETWORK: BLOCKING_NETWORK,
    SLEEP: SLEEP_RULE,
    FILE: FILE_IO,
    ORM: SYNC_ORM,
    ITERATE: SYNC_ITERATION,
    BRIDGE: ASYNC_TO_SYNC,
    CACHE: CACHE_RULE,
    PROCESS: PROCESS_RULE,
}


ON_LOOP_ADVICE = "move it into `connect()`, which a sync consumer runs in a thread and an async one can await in"
# What only blocks the loop (harmless on a private one), as opposed to what raises on any running loop.
LOOP_ONLY = frozenset({NETWORK, SLEEP, FILE, CACHE, PROCESS})
LOOP_ONLY_RULES = frozenset(BY_CATEGORY[category].id for category in LOOP_ONLY)


@check(BLOCKING_NETWORK, SLEEP_RULE, FILE_IO, SYNC_ORM, SYNC_ITERATION, ASYNC_TO_SYNC, CACHE_RULE, PROCESS_RULE)
def blocking_in_async(ctx: Context) -> Iterator[Finding]:
    """Every async function: its own blocking operations, and those of the sync project functions it calls."""
    cache_io = cache_does_io(ctx)
    for fn in ctx.project.functions():
        if not fn.is_async and not _built_on_the_loop(ctx, fn):
            continue
        # On a private loop (a Celery task's asyncio.run...), blocking delays nobody; the ORM still raises.
        private = off_loop(ctx, fn)
        in_genexp = {id(n) for g in own_nodes(fn.node) if isinstance(g, ast.GeneratorExp) for n in ast.walk(g)}
        awaited = {id(node.value) for node in own_nodes(fn.node) if isinstance(node, ast.Await)}
        for effect in _direct(ctx, fn):
            if (effect.category == CACHE and not cache_io) or (private and effect.category in LOOP_ONLY):
                continue
            yield _direct_finding(ctx, fn, effect, id(effect.node) in in_genexp, id(effect.node) in awaited)
        for item in _through_helpers(ctx, fn):
            if (item.rule == CACHE_RULE.id and not cache_io) or (private and item.rule in LOOP_ONLY_RULES):
                continue
            yield item


IN_PROCESS_CACHES = ("django.core.cache.backends.locmem.", "django.core.cache.backends.dummy.")


def cache_does_io(ctx: Context) -> bool:
    """True unless the project's settings keep the cache in the process (no CACHES: Django's local-memory
    default; or the locmem and dummy backends): only then is a sync cache call a blocking round trip. Without a
    settings module in the tree, the backend is unknown and the calls are reported."""
    modules = settings_modules(ctx.project)
    if not modules:
        return True
    for module in modules:
        for candidate in read_settings(ctx.project, module).get("CACHES", []):
            for value in alternatives(candidate.value):
                if not isinstance(value, dict):
                    return True
                for config in value.values():
                    backend = config.get("BACKEND") if isinstance(config, dict) else None
                    if not (isinstance(backend, str) and backend.startswith(IN_PROCESS_CACHES)):
                        return True
    return False


def _direct(ctx: Context, fn: Function) -> list[Effect]:
    return [item.effect for item in reached(ctx, fn) if not item.chain]


def _built_on_the_loop(ctx: Context, fn: Function) -> bool:
    """A consumer's ``__init__``: ``as_asgi()`` builds the consumer on the event loop, for sync consumers too."""
    return fn.node.name == "__init__" and fn.cls is not None and ctx.project.is_consumer(fn.module, fn.cls)


def _where(fn: Function) -> str:
    if fn.is_async:
        return f"async `{fn.name}`"
    return f"`{fn.name}` (as_asgi() builds the consumer on the event loop)"


def _direct_finding(ctx: Context, fn: Function, effect: Effect, in_genexp: bool, awaited: bool) -> Finding:
    rule_ = BY_CATEGORY[effect.category]
    subject = f"{effect.what} in {_where(fn)}"
    if not fn.is_async:
        # Nothing can be awaited in __init__: the work belongs in connect().
        return rule_.at(fn.module, effect.line, subject=subject, chain="", advice=ON_LOOP_ADVICE)
    advice = f"use {effect.twin}" if effect.twin else "await the coroutine directly"
    edit: Edit | None = None
    if effect.category == ORM:
        advice, edit = _orm_fix(ctx, effect, awaited)
    elif effect.category == ITERATE:
        advice, edit = _iteration_fix(effect)
    elif effect.category == SLEEP and isinstance(effect.node, ast.Call):
        edit = _edit(effect.node, "call", "asyncio.sleep", ("import asyncio",))
    elif effect.category == CACHE and isinstance(effect.node, ast.Call) and isinstance(effect.node.func, ast.Attribute):
        edit = _edit(effect.node, "awaited call" if awaited else "call", "a" + effect.node.func.attr)
    if in_genexp:
        edit = None  # an await inside a generator expression would make it an async generator
    return rule_.at(fn.module, effect.line, edit=edit, subject=subject, chain="", advice=advice)


def _edit(node: ast.expr, what: str, replacement: str = "", imports: tuple[str, ...] = ()) -> Edit:
    return Edit(
        node.lineno, node.col_offset, node.end_lineno or 0, node.end_col_offset or 0, what, replacement, imports
    )


def _orm_fix(ctx: Context, effect: Effect, awaited: bool) -> tuple[str, Edit | None]:
    call = effect.node
    if not isinstance(call, ast.Call):
        return f"use `{effect.twin}`", None
    how = "awaited call" if awaited else "call"
    if not effect.twin:
        return "move it into `sync_to_async` (its twin, `aiterator()`, is iterated with `async for`)", None
    if not effect.api and isinstance(call.func, ast.Attribute):
        return f"use `{effect.twin}`", _edit(call, how, "a" + call.func.attr)
    # A Django function with an async twin: get_object_or_404 -> aget_object_or_404 (Django 5.0+).
    qualname = effect.api
    twin = known_apis.SYNC_DB_FUNCTIONS.get(qualname, "")
    sync_name = qualname.rpartition(".")[2]
    since = django_versions.TWIN_SINCE.get(twin, django_versions.QUERYSET_TWINS_SINCE)
    fallback = f"await sync_to_async({sync_name})({', '.join(short(a, 30) for a in call.args)}...)"
    advice = django_versions.twin_advice(twin, since, effect.twin, fallback, ctx.django)
    if ctx.django.has(since) is False:
        return advice, _edit(call, "sync_to_async " + how, sync_name, ("from asgiref.sync import sync_to_async",))
    module_path = qualname.rpartition(".")[0]
    imports = (f"from {module_path} import {twin}",) if isinstance(call.func, ast.Name) else ()
    return advice, _edit(call, how, twin, imports)


def _iteration_fix(effect: Effect) -> tuple[str, Edit | None]:
    node = effect.node
    if isinstance(node, ast.For | ast.comprehension):
        return "use `async for` (or `[x async for x in qs]`)", _edit(node.iter, "loop")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
        name = node.func.id
        if name == "len":
            return "use `await qs.acount()`", _edit(node, "count")
        if name == "list":
            return "use `[x async for x in qs]`", _edit(node, "list")
        if name == "bool":
            return "use `await qs.aexists()`", _edit(node, "bool")
        return "iterate with `async for` first: `[x async for x in qs]`", None
    if isinstance(node, ast.Name | ast.Attribute | ast.Call):
        return "test it with `await qs.aexists()`", _edit(node, "exists")
    return "fetch what you need with an awaited twin (`await qs.afirst()`, `[x async for x in qs[:n]]`)", None


def _through_helpers(ctx: Context, fn: Function) -> Iterator[Finding]:
    seen: set[tuple[int, str]] = set()
    for node in own_nodes(fn.node):
        if not isinstance(node, ast.Call):
            continue
        for callee in sync_callees(ctx, fn, node, generators=False):
            for item in reached(ctx, callee):
                rule_ = BY_CATEGORY[item.effect.category]
                key = (node.lineno, rule_.id)
                if key in seen:
                    continue
                seen.add(key)
                full = Reached(item.effect, (Link(node, callee), *item.chain))
                advice = (
                    f"call it as `await sync_to_async({short(node.func)})(...)`, or make `{callee.name}` async"
                    if fn.is_async
                    else ON_LOOP_ADVICE
                )
                yield rule_.at(
                    fn.module,
                    node.lineno,
                    subject=f"`{short(node.func)}()` called from {_where(fn)}",
                    chain=f" (through {render_chain(fn, full)})",
                    advice=advice,
                )


@check(REQUEST_USER)
def request_user(ctx: Context) -> Iterator[Finding]:
    """``request.user`` (or ``self.request.user``) read in an async function of a Django module."""
    advice = django_versions.twin_advice(
        "auser",
        (5, 0),
        "user = await request.auser()",
        "user = await sync_to_async(lambda: request.user)()",
        ctx.django,
    )
    for fn in ctx.project.functions():
        if not fn.is_async or not fn.module.uses_django or _drf_request(ctx, fn):
            continue
        for node in own_nodes(fn.node):
            if not (isinstance(node, ast.Attribute) and node.attr == "user" and isinstance(node.ctx, ast.Load)):
                continue
            owner = node.value
            if (isinstance(owner, ast.Name) and owner.id == "request" and "request" in fn.params()) or (
                isinstance(owner, ast.Attribute)
                and owner.attr == "request"
                and isinstance(owner.value, ast.Name)
                and owner.value.id == "self"
            ):
                yield REQUEST_USER.at(fn.module, node.lineno, expr=short(node), fn=fn.name, advice=advice)


def _drf_request(ctx: Context, fn: Function) -> bool:
    """True in a method of an adrf (or DRF) class: its ``request`` is DRF's Request, whose ``user`` adrf has
    authenticated (awaited) before the handler and the permissions run."""
    if fn.cls is None:
        return False
    return any(base.startswith(("adrf.", "rest_framework.")) for base in ctx.project.base_names(fn.module, fn.cls))


@check(LAZY_RELATION)
def lazy_relations(ctx: Context) -> Iterator[Finding]:
    """A forward relation read on an instance whose query did not load it."""
    for fn in ctx.project.functions():
        if not fn.is_async:
            continue
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
                yield LAZY_RELATION.at(
                    fn.module, node.lineno, expr=short(node), fn=fn.name, attr=node.attr, owner=short(node.value)
                )


@check(ATOMIC)
def atomic(ctx: Context) -> Iterator[Finding]:
    """``transaction.atomic`` as a decorator or a ``with`` block of an async function."""
    for fn in ctx.project.functions():
        if not fn.is_async:
            continue
        for decorator in fn.node.decorator_list:
            target = decorator.func if isinstance(decorator, ast.Call) else decorator
            if fn.module.qualify(target) == known_apis.ATOMIC:
                yield ATOMIC.at(fn.module, decorator.lineno, subject="@transaction.atomic", fn=fn.name)
        for node in own_nodes(fn.node):
            if isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    expr = item.context_expr
                    target = expr.func if isinstance(expr, ast.Call) else expr
                    if fn.module.qualify(target) == known_apis.ATOMIC:
                        yield ATOMIC.at(fn.module, node.lineno, subject="transaction.atomic()", fn=fn.name)


@check(UNSAFE_THREAD)
def thread_unsafe_orm(ctx: Context) -> Iterator[Finding]:
    """ORM work handed to a pool thread (``sync_to_async(..., thread_sensitive=False)``, ``asyncio.to_thread``,
    ``run_in_executor``), unless the function closes its connection."""
    for scope, call in ctx.all_calls():
        how = _pool_thread(scope, call)
        if how is None:
            continue
        position = 1 if how.endswith("run_in_executor") else 0
        target = call.args[position] if len(call.args) > position else None
        decorated = _decorated_by(ctx, call) if how.startswith("sync_to_async") else None
        if (target is not None and _runs_orm(ctx, scope, target)) or (
            decorated is not None and _helper_runs_orm(ctx, decorated)
        ):
            yield UNSAFE_THREAD.at(scope.module, call.lineno, how=how)


def _pool_thread(scope: Scope, call: ast.Call) -> str | None:
    """How a call hands a function to a thread of a pool (not the one thread Django keeps its connection on)."""
    name = scope.qualify(call.func) or ""
    if name == "asgiref.sync.sync_to_async" and any(
        k.arg == "thread_sensitive" and isinstance(k.value, ast.Constant) and k.value.value is False
        for k in call.keywords
    ):
        return "sync_to_async(..., thread_sensitive=False)"
    if name in known_apis.TO_THREAD:
        return "asyncio.to_thread(...)"
    if name == "langchain_core.runnables.config.run_in_executor":
        return "run_in_executor"
    if isinstance(call.func, ast.Attribute) and call.func.attr == "run_in_executor":
        return "loop.run_in_executor"
    return None


def _decorated_by(ctx: Context, call: ast.Call) -> Function | None:
    for fn in ctx.project.functions():
        if any(d is call for d in fn.node.decorator_list):
            return fn
    return None


def _runs_orm(ctx: Context, scope: Scope, target: ast.expr) -> bool:
    if isinstance(target, ast.Lambda):
        for node in ast.walk(target.body):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if isinstance(scope.kind(node.func.value), QuerySetKind | InstanceKind):
                    return node.func.attr in known_apis.QUERYSET_SQL | known_apis.INSTANCE_SQL
        return False
    if isinstance(target, ast.Attribute) and isinstance(scope.kind(target.value), QuerySetKind | InstanceKind):
        return target.attr in known_apis.QUERYSET_SQL | known_apis.INSTANCE_SQL
    return any(_helper_runs_orm(ctx, fn) for fn in scope.callees(ast.Call(func=target, args=[], keywords=[])))


def _helper_runs_orm(ctx: Context, helper: Function) -> bool:
    if _closes_connection(helper):
        return False
    return any(item.effect.category in (ORM, ITERATE) for item in reached(ctx, helper))


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
