"""``--fix``: the rewrites the rules mark as mechanical and safe, applied with libcst so formatting and comments stay.

The audit finds the places (each finding of a fixable rule carries an ``Edit``); each rule's ``fixer`` rewrites its
node. Then the imports: the ones the rewritten code needs are added where an import sorter would put them (into an
existing ``from x import ...`` of the same module, else among the imports of the same section, in order), and the
ones the rewrite left unused (``import time`` after ``time.sleep`` became ``asyncio.sleep``) are removed.
"""

from __future__ import annotations

import ast
import difflib
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from longrun.audit.config import Config, find_config
from longrun.audit.engine import audit_path
from longrun.audit.model import RULES, Edit, Fixer

Span = tuple[int, int, int, int]


@dataclass
class FixResult:
    """What ``--fix`` did: the unified diff of the files it rewrote, and how many rewrites."""

    diff: str = ""
    rewrites: int = 0
    files: list[str] = field(default_factory=list)

    def report(self, root: Path) -> str:
        """The diff, or a sentence saying there was nothing to rewrite."""
        if not self.rewrites:
            return f"--fix: nothing to rewrite under {root} (no finding there has a mechanical fix)."
        noun = "rewrite" if self.rewrites == 1 else "rewrites"
        files = "file" if len(self.files) == 1 else "files"
        return f"{self.diff}--fix: {self.rewrites} {noun} in {len(self.files)} {files}."


class _Rewrite(cst.CSTTransformer):
    """Applies each edit's fixer at its span, parenthesising an await where an attribute, index or call follows."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, edits: dict[tuple[Span, str], tuple[Edit, Fixer]]) -> None:
        super().__init__()
        self.by_span: dict[Span, list[tuple[Edit, Fixer]]] = {}
        for (span, _what), item in edits.items():
            self.by_span.setdefault(span, []).append(item)
        self.applied = 0
        self.dropped: set[str] = set()  # names the rewritten code no longer uses (candidates for import removal)

    def _span(self, node: cst.CSTNode) -> Span:
        where = self.get_metadata(PositionProvider, node)
        return where.start.line, where.start.column, where.end.line, where.end.column

    def _apply(self, original: cst.CSTNode, updated: cst.CSTNode, loop: bool) -> cst.CSTNode:
        target = original.iter if loop else original  # type: ignore[attr-defined]
        for edit, fixer in self.by_span.get(self._span(target), []):
            if (edit.what == "loop") != loop:
                continue
            if isinstance(updated, cst.Call) and edit.what != "loop":
                self.dropped |= _names(updated.func)
            updated = fixer(updated, edit)
            self.applied += 1
        return updated

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        updated_node = updated_node.with_changes(func=_wrapped(updated_node.func))
        return self._apply(original_node, updated_node, loop=False)  # type: ignore[return-value]

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        return self._apply(original_node, updated_node, loop=False)  # type: ignore[return-value]

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        updated_node = updated_node.with_changes(value=_wrapped(updated_node.value))
        return self._apply(original_node, updated_node, loop=False)  # type: ignore[return-value]

    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript) -> cst.Subscript:
        return updated_node.with_changes(value=_wrapped(updated_node.value))

    def leave_For(self, original_node: cst.For, updated_node: cst.For) -> cst.For:
        return self._apply(original_node, updated_node, loop=True)  # type: ignore[return-value]

    def leave_CompFor(self, original_node: cst.CompFor, updated_node: cst.CompFor) -> cst.CompFor:
        return self._apply(original_node, updated_node, loop=True)  # type: ignore[return-value]


def _names(expr: cst.BaseExpression) -> set[str]:
    """The root name of a replaced function (``time`` of ``time.sleep``, ``get_object_or_404``)."""
    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return {expr.value} if isinstance(expr, cst.Name) else set()


def _wrapped(expr: cst.BaseExpression) -> cst.BaseExpression:
    # `await x.aget().title` would await the attribute: the await itself needs the parentheses.
    if isinstance(expr, cst.Await) and not expr.lpar:
        return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return expr


def rewrite(
    source: str, edits: Iterable[tuple[Edit, Fixer]], first_party: frozenset[str] = frozenset()
) -> tuple[str, int]:
    """The source with the edits applied and its imports adjusted; and how many edits applied."""
    keyed = {((e.line, e.col, e.end_line, e.end_col), e.what): (e, f) for e, f in edits}
    transformer = _Rewrite(keyed)
    tree = MetadataWrapper(cst.parse_module(source)).visit(transformer)
    if not transformer.applied:
        return source, 0
    needed = {statement for edit, _ in keyed.values() for statement in edit.imports}
    code = tree.code
    for statement in sorted(needed):
        code = add_import(code, statement, first_party)
    return _remove_unused(code, transformer.dropped), transformer.applied


def _remove_unused(code: str, names: set[str]) -> str:
    """Drops, from the top-level imports, the names the rewrite stopped using (and that nothing else uses)."""
    tree = ast.parse(code)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    used |= {_root(n) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    unused = names - used
    if not unused:
        return code
    module = cst.parse_module(code)
    body: list[cst.CSTNode] = []
    carried: list[cst.EmptyLine] | None = None  # the spacing of a removed statement, for the next one
    for statement in module.body:
        if carried is not None:
            # The next statement keeps the wider of the two spacings; at the top of the file, the removed one's.
            own = list(statement.leading_lines)
            statement = statement.with_changes(leading_lines=carried if not body or len(carried) > len(own) else own)
            carried = None
        if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1:
            small = statement.body[0]
            if isinstance(small, cst.Import | cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                kept = [alias for alias in small.names if _bound(alias) not in unused]
                if not kept:
                    carried = list(statement.leading_lines)
                    continue
                if len(kept) < len(small.names):
                    kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                    statement = statement.with_changes(body=[small.with_changes(names=kept)])
        body.append(statement)
    return module.with_changes(body=body).code


def _root(node: ast.Attribute) -> str:
    expr: ast.expr = node
    while isinstance(expr, ast.Attribute):
        expr = expr.value
    return expr.id if isinstance(expr, ast.Name) else ""


def _bound(alias: cst.ImportAlias) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    name: cst.BaseExpression = alias.name
    while isinstance(name, cst.Attribute):
        name = name.value  # `import a.b` binds `a`
    return name.value if isinstance(name, cst.Name) else ""


# --- imports, placed as isort (and ruff's I rules) would ----------------------------------------------------------

FUTURE, STDLIB, THIRD_PARTY, FIRST_PARTY = range(4)


def _section(module: str, first_party: frozenset[str]) -> int:
    top = module.split(".")[0]
    if top == "__future__":
        return FUTURE
    if top in sys.stdlib_module_names:
        return STDLIB
    return FIRST_PARTY if top in first_party else THIRD_PARTY


def _statement_key(node: ast.Import | ast.ImportFrom) -> tuple[int, str]:
    # Within a section: `import x` lines first, then `from x import y`, each by module name.
    if isinstance(node, ast.Import):
        return 0, node.names[0].name.lower()
    return 1, ("." * node.level + (node.module or "")).lower()


def add_import(code: str, statement: str, first_party: frozenset[str] = frozenset()) -> str:
    """``code`` with ``statement`` (``import x`` or ``from x import y``) added unless present: into an existing
    ``from x import ...`` of the same module, else before the first import of its section that sorts after it."""
    new = ast.parse(statement).body[0]
    assert isinstance(new, ast.Import | ast.ImportFrom)
    tree = ast.parse(code)
    top = _leading_imports(tree)
    lines = code.splitlines(keepends=True)
    if isinstance(new, ast.Import):
        if any(
            isinstance(s, ast.Import) and any(a.name == new.names[0].name and not a.asname for a in s.names)
            for s in top
        ):
            return code
        module_name = new.names[0].name
    else:
        module_name = new.module or ""
        name = new.names[0].name
        for existing in top:
            if isinstance(existing, ast.ImportFrom) and existing.module == module_name and not existing.level:
                if any(a.name == name for a in existing.names):
                    return code
                return _merge_into(code, existing, name)
    section = _section(module_name, first_party)
    key = _statement_key(new)
    insert_before: ast.stmt | None = None
    last_before: ast.stmt | None = None
    for existing in top:
        existing_module = existing.names[0].name if isinstance(existing, ast.Import) else (existing.module or "")
        existing_section = (
            FIRST_PARTY
            if isinstance(existing, ast.ImportFrom) and existing.level
            else _section(existing_module, first_party)
        )
        if (existing_section, _statement_key(existing)) > (section, key):
            insert_before = existing
            break
        last_before = existing
    text = statement + "\n"
    if insert_before is not None:
        same = last_before is not None and _section_of(last_before, first_party) == section
        after_same = _section_of(insert_before, first_party) == section
        index = insert_before.lineno - 1
        if not same and not after_same and last_before is not None:
            text = text + "\n"  # a section of its own, between two others
        elif not after_same and last_before is None:
            text = text + "\n"
        return "".join(lines[:index]) + text + "".join(lines[index:])
    if last_before is not None:
        index = last_before.end_lineno or last_before.lineno
        separator = "" if _section_of(last_before, first_party) == section else "\n"
        return "".join(lines[:index]) + separator + text + "".join(lines[index:])
    return _after_docstring(code, tree, text)


def _leading_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """The module's import block: its imports before the first other statement (a docstring aside)."""
    found: list[ast.Import | ast.ImportFrom] = []
    for position, statement in enumerate(tree.body):
        if isinstance(statement, ast.Import | ast.ImportFrom):
            found.append(statement)
        elif not (position == 0 and isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)):
            break
    return found


def _section_of(node: ast.stmt, first_party: frozenset[str]) -> int:
    if isinstance(node, ast.ImportFrom):
        return FIRST_PARTY if node.level else _section(node.module or "", first_party)
    assert isinstance(node, ast.Import)
    return _section(node.names[0].name, first_party)


def _merge_into(code: str, existing: ast.ImportFrom, name: str) -> str:
    """Adds ``name`` to an existing ``from x import a, b`` (names kept sorted, as isort keeps them)."""
    module = cst.parse_module(code)
    body = list(module.body)
    for position, statement in enumerate(body):
        if not (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1):
            continue
        small = statement.body[0]
        if not isinstance(small, cst.ImportFrom) or isinstance(small.names, cst.ImportStar):
            continue
        if small.module is None or module.code_for_node(small.module) != existing.module or small.relative:
            continue
        aliases = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in small.names]
        aliases.append(cst.ImportAlias(name=cst.Name(name)))
        aliases.sort(key=lambda a: module.code_for_node(a.name).lower())
        body[position] = statement.with_changes(body=[small.with_changes(names=aliases)])
        return module.with_changes(body=body).code
    return code


def _after_docstring(code: str, tree: ast.Module, text: str) -> str:
    """No import yet: after the docstring and ``from __future__`` imports, a blank line before the code."""
    lines = code.splitlines(keepends=True)
    index = 0
    for position, statement in enumerate(tree.body):
        is_docstring = position == 0 and isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
        if is_docstring:
            index = statement.end_lineno or statement.lineno
            continue
        break
    prefix = "".join(lines[:index])
    rest = "".join(lines[index:]).lstrip("\n")
    separator = "\n" if prefix else ""
    return prefix + separator + text + ("\n\n" if rest and not rest.startswith(("import", "from")) else "") + rest


def fix_tree(root: Path, chosen: Iterable[str], *, config: Config | None = None) -> FixResult:
    """Rewrites the files under ``root`` in place: the edits of the chosen rules' findings."""
    config = config if config is not None else find_config(root)
    findings = audit_path(root, chosen, config=config)
    by_path: dict[str, list[tuple[Edit, Fixer]]] = {}
    for item in findings:
        rule = RULES[item.rule]
        if item.edit is not None and rule.fixer is not None:
            by_path.setdefault(item.path, []).append((item.edit, rule.fixer))
    result = FixResult()
    diffs: list[str] = []
    first_party = _first_party(root)
    for rel, edits in sorted(by_path.items()):
        path = root if root.is_file() else root / rel
        before = path.read_text(encoding="utf-8")
        after, applied = rewrite(before, edits, first_party)
        if after == before:
            continue
        path.write_text(after, encoding="utf-8")
        result.rewrites += applied
        result.files.append(rel)
        diffs.extend(
            difflib.unified_diff(
                before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"
            )
        )
    result.diff = "".join(diffs)
    return result


def _first_party(root: Path) -> frozenset[str]:
    folder = root if root.is_dir() else root.parent
    return frozenset(p.name for p in folder.iterdir() if (p / "__init__.py").exists() or p.suffix == ".py")
