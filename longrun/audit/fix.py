"""``--fix``: the mechanical, safe rewrites inside async functions, made with libcst so formatting and comments stay.

Three kinds of rewrite: ``time.sleep(x)`` becomes ``await asyncio.sleep(x)`` (importing asyncio); a sync ORM call
with an ``a``-prefixed twin becomes ``await`` of the twin (``qs.get(...)`` -> ``await qs.aget(...)``,
``obj.save()`` -> ``await obj.asave()``, ``get_object_or_404(...)`` -> ``await aget_object_or_404(...)``, importing
the twin); a ``for`` loop or comprehension over a QuerySet becomes ``async for``. The audit picks the places (it
knows which receivers are QuerySets); anything else stays a finding.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterable
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from longrun.audit import catalog
from longrun.audit.async_rules import SLEEP, SYNC_ITERATION, SYNC_ORM, blocking_hits
from longrun.audit.infer import Context
from longrun.audit.walker import Module, load_project, own_nodes

# QuerySet.iterator() has a twin, aiterator(), but it is iterated with `async for`, not awaited: not mechanical.
NOT_AWAITABLE = frozenset({"iterator"})
SLEEP_FIX = "sleep"
TWIN_FIX = "twin"
FUNCTION_FIX = "function:"  # followed by the twin's qualified name
ASYNC_FOR_FIX = "async for"

# Keyed by the span of the call (chained calls, `qs.filter().count()`, share their start) or, for a loop, of the
# expression it iterates, with what is there ("call" or "loop").
Span = tuple[int, int, int, int, str]
Targets = dict[Span, str]


def _span(node: ast.expr, what: str) -> Span:
    return node.lineno, node.col_offset, node.end_lineno or 0, node.end_col_offset or 0, what


def fix_targets(ctx: Context, chosen: Iterable[str]) -> dict[Module, Targets]:
    """The calls to rewrite, by module and span: direct hits in async functions, never in a generator expression."""
    wanted = {rule.id for rule in (SLEEP, SYNC_ORM, SYNC_ITERATION)} & set(chosen)
    targets: dict[Module, Targets] = {}
    for fn in ctx.project.functions():
        if not fn.is_async:
            continue
        # An await inside a generator expression would turn it into an async generator: leave those alone.
        in_genexp = {id(n) for g in own_nodes(fn.node) if isinstance(g, ast.GeneratorExp) for n in ast.walk(g)}
        for hit in blocking_hits(ctx, fn):
            call = hit.node
            if hit.rule.id not in wanted or id(call) in in_genexp:
                continue
            if isinstance(call, ast.For | ast.comprehension):
                targets.setdefault(fn.module, {})[_span(call.iter, "loop")] = ASYNC_FOR_FIX
            if not isinstance(call, ast.Call) or hit.rule is SYNC_ITERATION:
                continue
            span = _span(call, "call")
            qualname = ctx.scope(fn).qualify(call.func) or ""
            if hit.rule is SLEEP:
                targets.setdefault(fn.module, {})[span] = SLEEP_FIX
            elif qualname in catalog.SYNC_DB_FUNCTIONS:
                twin = f"{qualname.rpartition('.')[0]}.{catalog.SYNC_DB_FUNCTIONS[qualname]}"
                targets.setdefault(fn.module, {})[span] = FUNCTION_FIX + twin
            elif isinstance(call.func, ast.Attribute) and _has_twin(call.func.attr):
                targets.setdefault(fn.module, {})[span] = TWIN_FIX
    return targets


def _has_twin(method: str) -> bool:
    return method not in NOT_AWAITABLE and method in catalog.QUERYSET_SQL | catalog.INSTANCE_SQL


class _AsyncRewrite(cst.CSTTransformer):
    """Rewrites the target calls into awaits, parenthesised where an attribute, index or call follows."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, targets: Targets) -> None:
        super().__init__()
        self.targets = targets
        self.imports: set[str] = set()  # statements the rewritten calls need, e.g. "import asyncio"

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        updated_node = updated_node.with_changes(func=_wrapped(updated_node.func))
        kind = self._target(original_node, "call")
        func = updated_node.func
        if kind == SLEEP_FIX:
            self.imports.add("import asyncio")
            call = updated_node.with_changes(func=cst.Attribute(value=cst.Name("asyncio"), attr=cst.Name("sleep")))
        elif kind == TWIN_FIX and isinstance(func, cst.Attribute):
            call = updated_node.with_changes(func=func.with_changes(attr=cst.Name("a" + func.attr.value)))
        elif kind is not None and kind.startswith(FUNCTION_FIX):
            module, _, twin = kind.removeprefix(FUNCTION_FIX).rpartition(".")
            if isinstance(func, cst.Attribute):  # shortcuts.get_object_or_404(...): the module is at hand
                call = updated_node.with_changes(func=func.with_changes(attr=cst.Name(twin)))
            else:
                self.imports.add(f"from {module} import {twin}")
                call = updated_node.with_changes(func=cst.Name(twin))
        else:
            return updated_node
        return cst.Await(expression=call)

    def leave_For(self, original_node: cst.For, updated_node: cst.For) -> cst.For:
        if self._target(original_node.iter, "loop") == ASYNC_FOR_FIX:
            return updated_node.with_changes(asynchronous=cst.Asynchronous())
        return updated_node

    def leave_CompFor(self, original_node: cst.CompFor, updated_node: cst.CompFor) -> cst.CompFor:
        if self._target(original_node.iter, "loop") == ASYNC_FOR_FIX:
            return updated_node.with_changes(asynchronous=cst.Asynchronous())
        return updated_node

    def _target(self, node: cst.CSTNode, what: str) -> str | None:
        where = self.get_metadata(PositionProvider, node)
        return self.targets.get((where.start.line, where.start.column, where.end.line, where.end.column, what))

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        return updated_node.with_changes(value=_wrapped(updated_node.value))

    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript) -> cst.Subscript:
        return updated_node.with_changes(value=_wrapped(updated_node.value))


def _wrapped(expr: cst.BaseExpression) -> cst.BaseExpression:
    # `await x.aget().title` would await the attribute: the await itself needs the parentheses.
    if isinstance(expr, cst.Await) and not expr.lpar:
        return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return expr


def rewrite(source: str, targets: Targets) -> str:
    """The source with the target calls rewritten, and the imports they need (asyncio, a twin) added."""
    transformer = _AsyncRewrite(targets)
    tree = MetadataWrapper(cst.parse_module(source)).visit(transformer)
    present = _top_level_imports(source)
    # Each goes in at the same place, so the last inserted comes first: `import asyncio` ahead of `from django...`.
    for statement in sorted(transformer.imports - present, key=lambda s: (s.startswith("from"), s), reverse=True):
        tree = _with_import(tree, statement)
    return tree.code


def _top_level_imports(source: str) -> set[str]:
    """The module's top-level imports, one statement per name, as ``_with_import`` would write them."""
    found: set[str] = set()
    for stmt in ast.parse(source).body:
        if isinstance(stmt, ast.Import):
            found |= {f"import {a.name}" for a in stmt.names if a.asname is None}
        elif isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
            found |= {f"from {stmt.module} import {a.name}" for a in stmt.names if a.asname is None}
    return found


def _with_import(tree: cst.Module, source: str) -> cst.Module:
    """Adds an import statement as the first import after the docstring and ``__future__`` imports."""
    body = list(tree.body)
    index = 0
    for position, stmt in enumerate(body):
        first = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) and stmt.body else None
        is_docstring = position == 0 and isinstance(first, cst.Expr) and isinstance(first.value, cst.SimpleString)
        is_future = (
            isinstance(first, cst.ImportFrom)
            and isinstance(first.module, cst.Name)
            and first.module.value == "__future__"
        )
        if is_docstring or is_future:
            index = position + 1
            continue
        break
    statement = cst.parse_statement(source + "\n")
    if index < len(body):
        # Take over the blank lines before the statement it goes ahead of, so the spacing stays as it was; a def
        # or class that now follows the import gets its two blank lines.
        following = body[index]
        statement = statement.with_changes(leading_lines=following.leading_lines)
        gap = [] if isinstance(following, cst.SimpleStatementLine) else [cst.EmptyLine(), cst.EmptyLine()]
        body[index] = following.with_changes(leading_lines=gap)
    body.insert(index, statement)
    return tree.with_changes(body=body)


def fix_tree(root: Path, chosen: Iterable[str]) -> str:
    """Called for ``--fix``: rewrites the files under root in place; returns the unified diff of what changed."""
    ctx = Context(load_project(root))
    diffs: list[str] = []
    for module, targets in sorted(fix_targets(ctx, chosen).items(), key=lambda item: item[0].rel):
        before = module.path.read_text(encoding="utf-8")
        after = rewrite(before, targets)
        if after == before:
            continue
        module.path.write_text(after, encoding="utf-8")
        diffs.extend(
            difflib.unified_diff(
                before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{module.rel}", f"b/{module.rel}"
            )
        )
    return "".join(diffs)
