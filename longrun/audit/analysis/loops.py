"""Which event loop an async function runs on: the server's, or a private one a sync caller starts for it.

An async function run only by ``asyncio.run(f())``, ``async_to_sync(f)``, ``loop.run_until_complete(f())`` from
sync code (a Celery task, a management command, a script), or declared a Celery task, runs on a loop of its own
that nothing else shares: blocking it delays nobody else, so the rules about blocking *the* event loop (LR101,
LR102, LR103, LR111, LR112) leave it alone. What raises on any running loop still applies there: the sync ORM
(``SynchronousOnlyOperation``) and ``async_to_sync`` inside it.

An async function is off the server's loop when something shows it (a private run, a Celery decorator, or calls
only from functions off it) and nothing shows otherwise: an entry (a view, a consumer's method), a call from code
on the loop, or a plain call from sync code (which hands the coroutine on to who knows what) keeps it on. A
function nobody calls stays on: it may be run by a framework the audit does not know.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass, field

from longrun.audit.analysis.context import Context
from longrun.audit.analysis.entries import entries
from longrun.audit.analysis.project import Function, own_nodes
from longrun.audit.analysis.scope import Scope

# Functions that run a coroutine (or an async function) to its end on a loop of their own.
PRIVATE_RUNNERS = frozenset({"asyncio.run", "asgiref.sync.async_to_sync", "anyio.run", "trio.run"})
# Decorators that make a function a Celery task (run by a worker, never awaited by the server).
TASK_DECORATORS = ("shared_task", "celery.task", ".task")


@dataclass
class _Index:
    private: set[int] = field(default_factory=set)  # async functions some code runs on a private loop
    # For each async function, who calls it other than through a private runner: a function, or None for
    # module-level code.
    callers: dict[int, list[Function | None]] = field(default_factory=dict)


def off_loop(ctx: Context, fn: Function) -> bool:
    """True when the async function ``fn`` never runs on the server's event loop (see the module's docstring)."""
    if not fn.is_async:
        return False
    index = _index(ctx)
    found = entries(ctx)
    return _off(ctx, fn, index, found, set())


def _off(ctx: Context, fn: Function, index: _Index, found: Mapping[int, object], visiting: set[int]) -> bool:
    key = id(fn.node)
    if key in visiting:
        return True  # a cycle among async functions: decided by the callers outside it
    if key in found:
        return False
    if _celery_task(fn):
        return True
    callers = index.callers.get(key, [])
    if key not in index.private and not callers:
        return False
    visiting = visiting | {key}
    for caller in callers:
        if caller is None or not caller.is_async or not _off(ctx, caller, index, found, visiting):
            return False
    return True


def _celery_task(fn: Function) -> bool:
    for decorator in fn.node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = fn.module.qualify(target) or ""
        if name.endswith(TASK_DECORATORS) or (isinstance(target, ast.Attribute) and target.attr == "task"):
            return True
    return False


def _runner(scope: Scope, call: ast.Call) -> bool:
    if isinstance(call.func, ast.Attribute) and call.func.attr == "run_until_complete":
        return True
    return (scope.qualify(call.func) or "") in PRIVATE_RUNNERS


def _index(ctx: Context) -> _Index:
    cached = ctx._answers.get(("loops",))
    if isinstance(cached, _Index):
        return cached
    index = _Index()
    places: list[tuple[Scope, Function | None, list[ast.Call]]] = [
        (ctx.scope(fn), fn, [n for n in own_nodes(fn.node) if isinstance(n, ast.Call)])
        for fn in ctx.project.functions()
    ]
    by_module: dict[int, list[ast.Call]] = {}
    for scope, call in ctx.all_calls():
        if scope.fn is None:
            by_module.setdefault(id(scope.module), []).append(call)
    places += [(ctx.module_scope(m), None, by_module.get(id(m), [])) for m in ctx.project.modules]
    for scope, fn, calls in places:
        handed: set[int] = set()
        for call in calls:
            if not _runner(scope, call):
                continue
            for argument in call.args[:1]:
                target = argument.func if isinstance(argument, ast.Call) else argument
                handed.add(id(argument))
                for callee in scope.callees(ast.Call(func=target, args=[], keywords=[])):
                    if callee.is_async:
                        index.private.add(id(callee.node))
        for call in calls:
            if id(call) in handed:
                continue
            for callee in scope.callees(call):
                if callee.is_async:
                    index.callers.setdefault(id(callee.node), []).append(fn)
    ctx._answers[("loops",)] = index
    return index
