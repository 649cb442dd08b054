"""Call chains inside the project: what a function reaches through the sync functions it calls, at any depth.

A call is followed into the project functions it runs (``helper()``, ``module.helper()``, ``self.method()``,
``obj.method()`` on an object of a project class, ``Cls()`` into ``__init__``, a project decorator's wrapper) unless
calling it runs nothing in this thread: an async function (its coroutine runs when awaited, and is audited as an
async function itself), a function wrapped in ``sync_to_async``, or (unless asked) a generator function. A
function already on the chain is not entered again (the cycle guard), so recursion ends.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from longrun.audit import known_apis
from longrun.audit.analysis.context import Context
from longrun.audit.analysis.effects import Effect, effects, short
from longrun.audit.analysis.project import Function, is_generator, own_nodes


@dataclass(frozen=True, slots=True)
class Link:
    """One step of a chain: a call in a function, and the function it runs."""

    call: ast.Call
    callee: Function


@dataclass(frozen=True, slots=True)
class Reached:
    """A blocking operation and the calls that lead to it (empty: in the function itself)."""

    effect: Effect
    chain: tuple[Link, ...]

    @property
    def owner(self) -> Function | None:
        return self.chain[-1].callee if self.chain else None


def wrapped_in_thread(fn: Function) -> bool:
    """True when calling ``fn`` hands it to a thread: decorated with ``sync_to_async``/``database_sync_to_async``."""
    for decorator in fn.node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if fn.module.qualify(target) in known_apis.SYNC_TO_ASYNC:
            return True
    return False


def sync_callees(ctx: Context, fn: Function, call: ast.Call, *, generators: bool) -> list[Function]:
    """The project functions a call runs in the calling thread."""
    found: list[Function] = []
    for callee in ctx.scope(fn).callees(call):
        if callee.is_async or wrapped_in_thread(callee) or callee.node is fn.node:
            continue
        if is_generator(callee.node) and not generators:
            continue
        found.append(callee)
    return found


def reached(ctx: Context, fn: Function, *, generators: bool = False) -> list[Reached]:
    """The blocking operations of ``fn`` and of every sync project function it reaches, each with its chain."""
    return list(_reach(ctx, fn, generators, (id(fn.node),)))


def _reach(ctx: Context, fn: Function, generators: bool, path: tuple[int, ...]) -> Iterator[Reached]:
    key = ("reach", id(fn.node), generators)
    cached = ctx._answers.get(key)
    if isinstance(cached, list):
        yield from cached
        return
    found: list[Reached] = [Reached(effect, ()) for effect in effects(ctx, fn)]
    complete = True
    for node in own_nodes(fn.node):
        if not isinstance(node, ast.Call):
            continue
        for callee in sync_callees(ctx, fn, node, generators=generators):
            if id(callee.node) in path:
                complete = False  # a cycle: what is found from here depends on where the walk started
                continue
            for item in _reach(ctx, callee, generators, (*path, id(callee.node))):
                found.append(Reached(item.effect, (Link(node, callee), *item.chain)))
    if complete:
        ctx._answers[key] = found
    yield from found


def render_chain(start: Function, item: Reached) -> str:
    """``view -> helper() (app/helpers.py:12) -> requests.post()``: the chain as messages show it."""
    steps = [f"`{start.name}`"]
    for link in item.chain:
        steps.append(f"`{short(link.call.func, 40)}()` ({link.callee.where})")
    last = item.owner
    where = f" ({last.module.rel}:{item.effect.line})" if last is not None else ""
    steps.append(f"{item.effect.what}{where}")
    return " -> ".join(steps)


def reachable(ctx: Context, roots: list[Function], skip: Callable[[Function], bool] | None = None) -> set[int]:
    """Ids of the def nodes of every project function reached from ``roots`` through any call (awaited, async,
    generator), ``skip`` excluded."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        fn = stack.pop()
        if id(fn.node) in seen or (skip is not None and skip(fn)):
            continue
        seen.add(id(fn.node))
        scope = ctx.scope(fn)
        for node in own_nodes(fn.node):
            if isinstance(node, ast.Call):
                stack.extend(scope.callees(node))
                for argument in node.args:
                    # A callable handed on (sync_to_async(f), run_in_executor(None, f), to_thread(f)) runs too.
                    if isinstance(argument, ast.Name | ast.Attribute):
                        stack.extend(scope.callees(ast.Call(func=argument, args=[], keywords=[])))
    return seen
