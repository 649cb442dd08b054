"""The audited tree as source: Python files parsed, named as their imports name them, names resolved through imports.

Nothing here imports the audited project; everything is read with ``ast``.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

FuncNode = ast.FunctionDef | ast.AsyncFunctionDef

# Folders that are never the project's own code, so they are not read (unless the configuration says otherwise).
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
        "tests",
    }
)
# Test modules: they are not served (an async test that blocks its loop is no migration problem of the site).
SKIP_FILES = ("test_*.py", "*_test.py", "tests.py", "conftest.py")
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
    # Every value a top-level name is given, branches (if/try/with/match) included, in file order.
    assigns: dict[str, list[ast.expr]] = field(default_factory=dict)
    # Modules imported by top-level statements (run when this module is imported), with their lines.
    imported_modules: list[tuple[str, int]] = field(default_factory=list)
    # Modules this one star-imports (``from .models import *``), resolved once every module is read.
    star_imports: list[str] = field(default_factory=list)

    def qualify(self, expr: ast.expr) -> str | None:
        """The dotted name an expression refers to: ``time.sleep``, ``openai.OpenAI``, ``pkg.mod.helper``, or None."""
        if isinstance(expr, ast.Name):
            if expr.id in self.imports:
                return self.imports[expr.id]
            if expr.id in self.functions or expr.id in self.classes or expr.id in self.assigns:
                return f"{self.name}.{expr.id}" if self.name else expr.id
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
        """True when a ``# noqa: LR101`` comment on the line names the rule."""
        if not 0 < line <= len(self.lines):
            return False
        match = NOQA.search(self.lines[line - 1])
        if match is None:
            return False
        return rule_id in {code.strip().upper() for code in match.group("codes").split(",")}


@dataclass(frozen=True, eq=False)
class Function:
    """A function or method of the audited tree: the class it is defined in and the function it is nested in."""

    module: Module
    node: FuncNode
    cls: ast.ClassDef | None
    outer: Function | None = None

    @property
    def is_async(self) -> bool:
        return isinstance(self.node, ast.AsyncFunctionDef)

    @property
    def name(self) -> str:
        own = f"{self.cls.name}.{self.node.name}" if self.cls else self.node.name
        return f"{self.outer.name}.<locals>.{own}" if self.outer else own

    @property
    def where(self) -> str:
        """``path:line`` of the def, for messages."""
        return f"{self.module.rel}:{self.node.lineno}"

    def params(self) -> list[str]:
        """The positional parameter names, ``self``/``cls`` dropped for methods."""
        names = [a.arg for a in self.node.args.posonlyargs + self.node.args.args]
        if self.cls is not None and names and names[0] in {"self", "cls"} and not self.is_static:
            return names[1:]
        return names

    @property
    def is_static(self) -> bool:
        return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in self.node.decorator_list)

    def takes_request(self) -> bool:
        """True for what looks like a function view: the first parameter is ``request``, in a Django module."""
        params = self.params()
        return bool(params) and params[0] in {"request", "req"} and self.module.uses_django


@dataclass(eq=False)
class Project:
    """Every module of one audited PATH, by dotted name."""

    root: Path
    modules: list[Module]
    by_name: dict[str, Module]
    _functions: list[Function] | None = None
    _by_node: dict[int, Function] = field(default_factory=dict)

    def functions(self) -> list[Function]:
        """Every function and method, nested ones included, in file order (found once, then kept)."""
        if self._functions is None:
            self._functions = [fn for module in self.modules for fn in _functions_in(module, module.tree, None, None)]
            self._by_node = {id(fn.node): fn for fn in self._functions}
        return self._functions

    def function_of(self, node: ast.AST) -> Function | None:
        """The Function of a def node of the tree."""
        self.functions()
        return self._by_node.get(id(node))

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
        return self.function_of(found[0].functions[found[1]])

    def klass(self, qualname: str) -> tuple[Module, ast.ClassDef] | None:
        """The project's own class of that qualified name, if there is one."""
        found = self.lookup(qualname)
        if found is None or found[1] not in found[0].classes:
            return None
        return found[0], found[0].classes[found[1]]

    def class_name(self, module: Module, cls: ast.ClassDef) -> str:
        return f"{module.name}.{cls.name}" if module.name else cls.name

    def method(self, module: Module, cls: ast.ClassDef, name: str) -> Function | None:
        """``name`` looked up on ``cls``: its own method, else one of its bases' that the project defines."""
        for _, owner in self.mro(module, cls):
            for stmt in owner.body:
                if isinstance(stmt, FuncNode) and stmt.name == name:
                    return self.function_of(stmt)
        return None

    def mro(self, module: Module, cls: ast.ClassDef, depth: int = 0) -> Iterator[tuple[Module, ast.ClassDef]]:
        """The class, then its bases defined in the project (depth-first, a few levels at most)."""
        yield module, cls
        if depth > 5:
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

    def is_async_consumer(self, module: Module, cls: ast.ClassDef) -> bool:
        return any(name.rsplit(".", 1)[-1].startswith("Async") for name in self.base_names(module, cls))


def _functions_in(
    module: Module, node: ast.AST, cls: ast.ClassDef | None, outer: Function | None
) -> Iterator[Function]:
    # `cls` is the class whose body we are in (through ifs and trys); a def's own body belongs to no class.
    for child in ast.iter_child_nodes(node):
        if isinstance(child, FuncNode):
            fn = Function(module, child, cls, outer)
            yield fn
            yield from _functions_in(module, child, None, fn)
        elif isinstance(child, ast.ClassDef):
            yield from _functions_in(module, child, child, outer)
        else:
            yield from _functions_in(module, child, cls, outer)


def own_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node of a function body, not descending into nested functions, lambdas or classes (they run later)."""
    stack = list(ast.iter_child_nodes(node))
    if isinstance(node, FuncNode):
        # Decorators and defaults run when the def runs, not when the function is called.
        stack = list(node.body)
    stack.reverse()
    while stack:
        child = stack.pop()
        yield child
        if not isinstance(child, FuncNode | ast.Lambda | ast.ClassDef):
            stack.extend(reversed(list(ast.iter_child_nodes(child))))


def is_generator(node: FuncNode) -> bool:
    """True when calling the function only builds a generator: its body (not nested defs) yields."""
    return any(isinstance(n, ast.Yield | ast.YieldFrom) for n in own_nodes(node))


def root_of(expr: ast.expr) -> ast.expr:
    """The start of an attribute chain: ``client`` in ``client.chat.completions.create``."""
    while isinstance(expr, ast.Attribute):
        expr = expr.value
    return expr


def top_level_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements a module runs when imported: its body, through if/try/with/match blocks."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If | ast.For | ast.While):
            yield from top_level_statements(stmt.body + stmt.orelse)
        elif isinstance(stmt, ast.Try):
            yield from top_level_statements(
                stmt.body + stmt.orelse + stmt.finalbody + [s for h in stmt.handlers for s in h.body]
            )
        elif isinstance(stmt, ast.With):
            yield from top_level_statements(stmt.body)
        elif isinstance(stmt, ast.Match):
            yield from top_level_statements([s for case in stmt.cases for s in case.body])


def _collect_names(module: Module) -> None:
    package = module.name if module.path.name == "__init__.py" else module.name.rpartition(".")[0]
    top = {id(s) for s in top_level_statements(module.tree.body)}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    module.imports[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    module.imports.setdefault(head, head)
                if id(node) in top:
                    module.imported_modules.append((alias.name, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                anchor = package.split(".") if package else []
                anchor = anchor[: len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                source = ".".join([*anchor, *([source] if source else [])])
            for alias in node.names:
                if alias.name == "*":
                    module.star_imports.append(source)
                else:
                    module.imports[alias.asname or alias.name] = f"{source}.{alias.name}" if source else alias.name
                if id(node) in top:
                    # `from pkg import mod` imports pkg, and pkg.mod when that is a module.
                    module.imported_modules.append((source, node.lineno))
                    if alias.name != "*":
                        module.imported_modules.append(
                            (f"{source}.{alias.name}" if source else alias.name, node.lineno)
                        )
    for stmt in top_level_statements(module.tree.body):
        if isinstance(stmt, FuncNode):
            module.functions.setdefault(stmt.name, stmt)
        elif isinstance(stmt, ast.ClassDef):
            module.classes.setdefault(stmt.name, stmt)
        elif isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                if isinstance(target, ast.Name):
                    module.assigns.setdefault(target.id, []).append(stmt.value)
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            module.assigns.setdefault(stmt.target.id, []).append(stmt.value)


def python_files(
    root: Path, excluded: Callable[[Path], bool] | None = None, skip_dirs: frozenset[str] | None = None
) -> Iterator[Path]:
    """The ``.py`` files under root (or root itself), skipping virtualenvs, hidden folders, the ``skip_dirs``
    folder names (by default migrations, tests, build output, ... and test modules), and what ``excluded``
    refuses."""
    if root.is_file():
        yield root
        return
    skipped = SKIP_DIRS if skip_dirs is None else skip_dirs
    skipped_files = SKIP_FILES if skip_dirs is None else ()
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        # Pruned in place, so os.walk never descends into them.
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in skipped
            and not d.startswith(".")
            and not (base / d / "pyvenv.cfg").exists()
            and not (excluded is not None and excluded(base / d))
        )
        for name in sorted(files):
            if name.endswith(".py") and not any(fnmatch.fnmatch(name, p) for p in skipped_files):
                if excluded is not None and excluded(base / name):
                    continue
                yield base / name


def _import_base(root: Path) -> Path:
    # Names inside a package must read like its imports: auditing myproject/app still calls it app.models.
    base = root
    while (base / "__init__.py").exists() and base.parent != base:
        base = base.parent
    return base


def _source_roots(root: Path, files: list[Path]) -> list[Path]:
    """Where imports are resolved from: the import base of the audited path, and every folder under it that holds
    a ``manage.py`` (a project in a sub-folder of a repository imports from there), deepest first."""
    roots = {_import_base(root.parent if root.is_file() else root)}
    roots |= {path.parent for path in files if path.name == "manage.py"}
    return sorted(roots, key=lambda p: len(p.parts), reverse=True)


def _module_name(path: Path, roots: list[Path]) -> str:
    for base in roots:
        if path.is_relative_to(base):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts and parts[-1] == "__init__":
                parts.pop()
            return ".".join(parts)
    return path.stem


def load_project(
    root: Path, excluded: Callable[[Path], bool] | None = None, skip_dirs: frozenset[str] | None = None
) -> Project:
    """Parses every file under root (files that do not parse are skipped)."""
    root = root.resolve()
    files = list(python_files(root, excluded, skip_dirs))
    roots = _source_roots(root, files)
    modules: list[Module] = []
    for path in files:
        try:
            source = path.read_text(encoding="utf-8")
            with warnings.catch_warnings():
                # The audited code's own warnings (an invalid escape in a string) are not the audit's to raise.
                warnings.simplefilter("ignore")
                tree = ast.parse(source, str(path))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        rel = path.name if root.is_file() else path.relative_to(root).as_posix()
        module = Module(_module_name(path, roots), path, rel, tree, source.splitlines())
        _collect_names(module)
        modules.append(module)
    by_name: dict[str, Module] = {}
    for module in modules:
        by_name.setdefault(module.name, module)
    _resolve_star_imports(modules, by_name)
    return Project(root, modules, by_name)


def _public_names(module: Module) -> dict[str, str]:
    """What ``from module import *`` binds: its ``__all__`` when that is a literal list, else every name not
    starting with an underscore; each with the dotted name it refers to."""
    names = {name: module.imports[name] for name in module.imports}
    names |= {name: f"{module.name}.{name}" for name in [*module.functions, *module.classes, *module.assigns]}
    exported = module.assigns.get("__all__")
    if exported and isinstance(exported[-1], ast.List | ast.Tuple):
        listed = {e.value for e in exported[-1].elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        return {name: target for name, target in names.items() if name in listed}
    return {name: target for name, target in names.items() if not name.startswith("_")}


def _resolve_star_imports(modules: list[Module], by_name: dict[str, Module]) -> None:
    # A star import of a star-importing module passes its names on, so repeat until nothing changes.
    for _ in range(5):
        changed = False
        for module in modules:
            for source in module.star_imports:
                imported = by_name.get(source)
                if imported is None or imported is module:
                    continue
                for name, target in _public_names(imported).items():
                    if name not in module.imports and name not in module.functions and name not in module.classes:
                        module.imports[name] = target
                        changed = True
        if not changed:
            return
