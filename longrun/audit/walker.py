"""The audited tree as source: Python files parsed, names resolved through imports, calls to its own functions found.

Nothing here imports the audited project; everything is read with ``ast``.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

FuncNode = ast.FunctionDef | ast.AsyncFunctionDef

# Folders that are never the project's own code (or hold nothing async), so they are not read.
SKIP_DIRS = frozenset(
    {
        "__pycache__",
        "node_modules",
        "site-packages",
        "migrations",
        "venv",
        "env",
        "build",
        "dist",
        "staticfiles",
    }
)
# Top-level packages whose import marks a module as part of a Django project (views, consumers, middleware).
DJANGO_ROOTS = frozenset({"django", "rest_framework", "channels", "ninja", "adrf"})
NOQA = re.compile(r"#\s*noqa:\s*(?P<codes>[A-Z0-9, ]+)", re.IGNORECASE)


@dataclass(eq=False)
class Module:
    """One parsed file: its dotted name, where it is, its imports and its top-level names."""

    name: str
    path: Path
    rel: str
    tree: ast.Module
    lines: list[str]
    imports: dict[str, str] = field(default_factory=dict)
    functions: dict[str, FuncNode] = field(default_factory=dict)
    classes: dict[str, ast.ClassDef] = field(default_factory=dict)
    assigns: dict[str, ast.expr] = field(default_factory=dict)

    def qualify(self, expr: ast.expr) -> str | None:
        """Called by rules on a call's target: ``time.sleep``, ``openai.OpenAI``, ``pkg.mod.helper``, or None."""
        if isinstance(expr, ast.Name):
            if expr.id in self.imports:
                return self.imports[expr.id]
            if expr.id in self.functions or expr.id in self.classes:
                return f"{self.name}.{expr.id}"
            return expr.id
        if isinstance(expr, ast.Attribute):
            base = self.qualify(expr.value)
            return f"{base}.{expr.attr}" if base else None
        return None

    @property
    def uses_django(self) -> bool:
        """True when the module imports Django (or a framework on it): only then is ``def f(request)`` a view."""
        return any(name.split(".")[0] in DJANGO_ROOTS for name in self.imports.values())

    def suppressed(self, line: int, rule_id: str) -> bool:
        """Called before reporting: a ``# noqa: LR101`` comment on the line silences that rule there."""
        if not 0 < line <= len(self.lines):
            return False
        match = NOQA.search(self.lines[line - 1])
        if match is None:
            return False
        return rule_id in {code.strip().upper() for code in match.group("codes").split(",")}


@dataclass(frozen=True, eq=False)
class Function:
    """A function or method of the audited tree, with the class it is defined in (if any)."""

    module: Module
    node: FuncNode
    cls: ast.ClassDef | None

    @property
    def is_async(self) -> bool:
        return isinstance(self.node, ast.AsyncFunctionDef)

    @property
    def name(self) -> str:
        return f"{self.cls.name}.{self.node.name}" if self.cls else self.node.name

    def params(self) -> list[str]:
        """The positional parameter names, ``self``/``cls`` dropped for methods."""
        names = [a.arg for a in self.node.args.posonlyargs + self.node.args.args]
        return names[1:] if self.cls is not None and names and names[0] in {"self", "cls"} else names

    def takes_request(self) -> bool:
        """True for what looks like a view: the first parameter is ``request``, in a module that imports Django."""
        params = self.params()
        return bool(params) and params[0] == "request" and self.module.uses_django


@dataclass(eq=False)
class Project:
    """Every module of one audited PATH, by dotted name."""

    root: Path
    modules: list[Module]
    by_name: dict[str, Module]
    _functions: list[Function] | None = None

    def functions(self) -> list[Function]:
        """Every function and method, nested ones included, in file order (found once, then kept)."""
        if self._functions is None:
            self._functions = [fn for module in self.modules for fn in _functions_in(module, module.tree, None)]
        return self._functions

    def lookup(self, qualname: str) -> tuple[Module, str] | None:
        """Splits ``pkg.mod.Name`` into the project module that defines it and the name, when it is ours."""
        head, _, last = qualname.rpartition(".")
        module = self.by_name.get(head)
        if module is not None and (last in module.functions or last in module.classes or last in module.assigns):
            return module, last
        return None

    def function(self, qualname: str) -> Function | None:
        """The project's own top-level function of that qualified name, if there is one."""
        found = self.lookup(qualname)
        if found is None or found[1] not in found[0].functions:
            return None
        return Function(found[0], found[0].functions[found[1]], None)

    def klass(self, qualname: str) -> tuple[Module, ast.ClassDef] | None:
        """The project's own class of that qualified name, if there is one."""
        found = self.lookup(qualname)
        if found is None or found[1] not in found[0].classes:
            return None
        return found[0], found[0].classes[found[1]]

    def method(self, module: Module, cls: ast.ClassDef, name: str) -> Function | None:
        """``self.name`` in ``cls``: its own method, else one of its bases' that the project defines."""
        for owner_module, owner in self.mro(module, cls):
            for stmt in owner.body:
                if isinstance(stmt, FuncNode) and stmt.name == name:
                    return Function(owner_module, stmt, owner)
        return None

    def mro(self, module: Module, cls: ast.ClassDef, depth: int = 0) -> Iterator[tuple[Module, ast.ClassDef]]:
        """The class, then its bases defined in the project (depth-first, a few levels at most)."""
        yield module, cls
        if depth > 4:
            return
        for base in cls.bases:
            qualname = module.qualify(base)
            found = self.klass(qualname) if qualname else None
            if found is not None and found[1] is not cls:
                yield from self.mro(found[0], found[1], depth + 1)

    def base_names(self, module: Module, cls: ast.ClassDef) -> set[str]:
        """Qualified names of every base of the class, through the project's own classes."""
        names: set[str] = set()
        for owner_module, owner in self.mro(module, cls):
            names |= {q for base in owner.bases if (q := owner_module.qualify(base))}
        return names

    def is_consumer(self, module: Module, cls: ast.ClassDef) -> bool:
        """True for a Channels consumer class: one of its bases' names ends in ``Consumer``."""
        return any(name.rsplit(".", 1)[-1].endswith("Consumer") for name in self.base_names(module, cls))

    def resolve_call(self, fn: Function, call: ast.Call) -> Function | None:
        """The project function a call in ``fn`` runs: ``helper()``, ``module.helper()`` or ``self.method()``."""
        target = call.func
        if (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id == "self"
            and fn.cls is not None
        ):
            return self.method(fn.module, fn.cls, target.attr)
        qualname = fn.module.qualify(target)
        return self.function(qualname) if qualname else None


def _functions_in(module: Module, node: ast.AST, cls: ast.ClassDef | None) -> Iterator[Function]:
    # `cls` is the class whose body we are in (through ifs and trys); a def's own body belongs to no class.
    for child in ast.iter_child_nodes(node):
        if isinstance(child, FuncNode):
            yield Function(module, child, cls)
            yield from _functions_in(module, child, None)
        elif isinstance(child, ast.ClassDef):
            yield from _functions_in(module, child, child)
        else:
            yield from _functions_in(module, child, cls)


def own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node of a function body, not descending into nested functions, lambdas or classes (they run later)."""
    stack = list(ast.iter_child_nodes(node))
    if isinstance(node, FuncNode):
        # Decorators and defaults run when the def runs, not when the function is called.
        stack = list(node.body)
    while stack:
        child = stack.pop()
        yield child
        if not isinstance(child, FuncNode | ast.Lambda | ast.ClassDef):
            stack.extend(ast.iter_child_nodes(child))


def is_generator(node: FuncNode) -> bool:
    """True when calling the function only builds a generator: its body (not nested defs) yields."""
    return any(isinstance(n, ast.Yield | ast.YieldFrom) for n in own_nodes(node))


def root_of(expr: ast.expr) -> ast.expr:
    """The start of an attribute chain: ``client`` in ``client.chat.completions.create``."""
    while isinstance(expr, ast.Attribute):
        expr = expr.value
    return expr


def _module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _import_base(root: Path) -> Path:
    # Names inside a package must read like its imports: auditing myproject/app still calls it app.models.
    base = root
    while (base / "__init__.py").exists() and base.parent != base:
        base = base.parent
    return base


def _collect_names(module: Module) -> None:
    package = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    module.imports[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    module.imports[head] = head
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                source = ".".join([*anchor, *([source] if source else [])])
            for alias in node.names:
                if alias.name != "*":
                    module.imports[alias.asname or alias.name] = f"{source}.{alias.name}" if source else alias.name
    for stmt in module.tree.body:
        if isinstance(stmt, FuncNode):
            module.functions[stmt.name] = stmt
        elif isinstance(stmt, ast.ClassDef):
            module.classes[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    module.assigns[target.id] = stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            module.assigns[stmt.target.id] = stmt.value


def python_files(root: Path) -> Iterator[Path]:
    """The ``.py`` files under root (or root itself), skipping virtualenvs, hidden folders and migrations."""
    if root.is_file():
        yield root
        return
    for folder, dirs, files in os.walk(root):
        # Pruned in place, so os.walk never descends into them.
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIP_DIRS and not d.startswith(".") and not (Path(folder) / d / "pyvenv.cfg").exists()
        )
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(folder) / name


def load_project(root: Path) -> Project:
    """Called once per audited PATH: parses every file; files that do not parse are skipped."""
    root = root.resolve()
    base = _import_base(root.parent if root.is_file() else root)
    modules: list[Module] = []
    for path in python_files(root):
        try:
            source = path.read_text(encoding="utf-8")
            tree = ast.parse(source, str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        rel = path.name if root.is_file() else path.relative_to(root).as_posix()
        module = Module(_module_name(path, base), path, rel, tree, source.splitlines())
        _collect_names(module)
        modules.append(module)
    return Project(root, modules, {m.name: m for m in modules})
