"""Reads a settings module as source: the values its top-level statements give each setting, without running it.

Branches (``if``/``try``) give a setting several candidate values; anything computed at run time (environment
variables, function calls) stays ``UNKNOWN``, and the rules ignore it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Final

from longrun.audit.walker import Module, Project

UNKNOWN: Final = object()
MAX_STAR_DEPTH = 4


class LStr(str):
    """A string from the source that remembers where it is, so a finding can point at the list entry itself (in
    the file that wrote it, which for split settings may be a base module)."""

    line: int
    path: str

    def __new__(cls, value: str, line: int, path: str) -> LStr:
        made = super().__new__(cls, value)
        made.line = line
        made.path = path
        return made


@dataclass(frozen=True, slots=True)
class Candidate:
    """One value a setting may have, and the line that assigns it."""

    value: object
    line: int


Env = dict[str, list[Candidate]]


def place_of(value: object, path: str, line: int) -> tuple[str, int]:
    """Where a string value was written, when it came from source; else the given place."""
    return (value.path, value.line) if isinstance(value, LStr) else (path, line)


def read_settings(project: Project, module: Module) -> Env:
    """Called once per settings module: the candidate values of every top-level name."""
    env: Env = {}
    _Evaluator(project, module, 0).run(module.tree.body, env)
    return env


def settings_modules(project: Project) -> list[Module]:
    """The settings modules named by DJANGO_SETTINGS_MODULE in the tree (manage.py, asgi.py), else any settings.py."""
    named: list[Module] = []
    for module in project.modules:
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.Call)
                and len(node.args) >= 2
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == "DJANGO_SETTINGS_MODULE"
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                found = project.by_name.get(node.args[1].value)
                if found is not None and found not in named:
                    named.append(found)
    if named:
        return named
    return [m for m in project.modules if m.name.split(".")[-1] == "settings" or ".settings." in f".{m.name}."][:1]


class _Evaluator:
    def __init__(self, project: Project, module: Module, depth: int) -> None:
        self.project = project
        self.module = module
        self.depth = depth

    def run(self, body: list[ast.stmt], env: Env) -> None:
        for stmt in body:
            self.stmt(stmt, env)

    def stmt(self, stmt: ast.stmt, env: Env) -> None:
        match stmt:
            case ast.Assign(targets=targets, value=value):
                result = self.eval(value, env)
                for target in targets:
                    self.assign(target, result, stmt.lineno, env)
            case ast.AnnAssign(target=target, value=value) if value is not None:
                self.assign(target, self.eval(value, env), stmt.lineno, env)
            case ast.AugAssign(target=ast.Name(id=name), op=ast.Add(), value=value):
                extra = self.eval(value, env)
                env[name] = [
                    Candidate(c.value + extra, c.line)
                    if isinstance(c.value, list) and isinstance(extra, list)
                    else Candidate(UNKNOWN, stmt.lineno)
                    for c in env.get(name, [])
                ]
            case ast.Expr(value=ast.Call(func=ast.Attribute(value=ast.Name(id=name), attr=method), args=args)):
                self.mutate(env.get(name, []), method, [self.eval(a, env) for a in args])
            case ast.If(body=body, orelse=orelse):
                self.branches([body, orelse], env)
            case ast.Try(body=body, handlers=handlers, orelse=orelse, finalbody=final):
                self.branches([body + orelse, *[h.body for h in handlers]], env)
                self.run(final, env)
            case ast.With(body=body):
                self.run(body, env)
            case ast.ImportFrom(module=source, names=[ast.alias(name="*")], level=level):
                self.star(source or "", level, env)

    def branches(self, bodies: list[list[ast.stmt]], env: Env) -> None:
        results: list[Env] = []
        for body in bodies:
            branch = dict(env)
            self.run(body, branch)
            results.append(branch)
        for name in {n for branch in results for n in branch}:
            merged: list[Candidate] = []
            for branch in results:
                for candidate in branch.get(name, []):
                    if all(candidate is not seen for seen in merged):
                        merged.append(candidate)
            env[name] = merged

    def star(self, source: str, level: int, env: Env) -> None:
        if self.depth >= MAX_STAR_DEPTH:
            return
        if level:
            package = self.module.name.split(".")
            package = package[: len(package) - level] if self.module.path.name != "__init__.py" else package
            source = ".".join([*package, *([source] if source else [])])
        found = self.project.by_name.get(source)
        if found is not None:
            _Evaluator(self.project, found, self.depth + 1).run(found.tree.body, env)

    def assign(self, target: ast.expr, value: object, line: int, env: Env) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = [Candidate(value, line)]
        elif isinstance(target, ast.Subscript):
            container = self.eval(target.value, env)
            key = self.eval(target.slice, env)
            if isinstance(container, dict) and isinstance(key, str):
                container[LStr(key, line, self.module.rel)] = value

    def mutate(self, candidates: list[Candidate], method: str, args: list[object]) -> None:
        for candidate in candidates:
            target = candidate.value
            if isinstance(target, list) and method == "append" and len(args) == 1:
                target.append(args[0])
            elif isinstance(target, list) and method == "insert" and len(args) == 2:
                target.insert(args[0] if isinstance(args[0], int) else len(target), args[1])
            elif isinstance(target, list) and method == "extend" and len(args) == 1 and isinstance(args[0], list):
                target.extend(args[0])
            elif isinstance(target, dict) and method == "update" and len(args) == 1 and isinstance(args[0], dict):
                target.update(args[0])

    def eval(self, expr: ast.expr, env: Env) -> object:
        match expr:
            case ast.Constant(value=str() as text):
                return LStr(text, expr.lineno, self.module.rel)
            case ast.Constant(value=value):
                return value
            case ast.List(elts=elts) | ast.Tuple(elts=elts) | ast.Set(elts=elts):
                items: list[object] = []
                for elt in elts:
                    if isinstance(elt, ast.Starred):
                        inner = self.eval(elt.value, env)
                        items.extend(inner if isinstance(inner, list) else [])
                    else:
                        items.append(self.eval(elt, env))
                return items
            case ast.Dict(keys=keys, values=values):
                result: dict[object, object] = {}
                for key, value in zip(keys, values, strict=True):
                    evaluated = self.eval(value, env)
                    if key is None:
                        if isinstance(evaluated, dict):
                            result.update(evaluated)
                    else:
                        result[self.eval(key, env)] = evaluated
                return result
            case ast.Name(id=name):
                candidates = env.get(name, [])
                return candidates[0].value if len(candidates) == 1 else UNKNOWN
            case ast.BinOp(left=left, op=ast.Add(), right=right):
                a, b = self.eval(left, env), self.eval(right, env)
                return a + b if isinstance(a, list) and isinstance(b, list) else UNKNOWN
            case ast.Subscript(value=value, slice=key):
                container, index = self.eval(value, env), self.eval(key, env)
                if isinstance(container, dict) and isinstance(index, str) and index in container:
                    return container[index]
                return UNKNOWN
            case ast.Call(func=func, keywords=keywords):
                return self.call(self.module.qualify(func) or "", keywords, expr.lineno, env)
        return UNKNOWN

    def call(self, qualname: str, keywords: list[ast.keyword], line: int, env: Env) -> object:
        kwargs = {k.arg: self.eval(k.value, env) for k in keywords if k.arg}
        if qualname in {"dj_database_url.config", "dj_database_url.parse"}:
            # dj-database-url builds a database dict whose CONN_MAX_AGE is its conn_max_age argument (default 0).
            return {LStr("CONN_MAX_AGE", line, self.module.rel): kwargs.get("conn_max_age", 0), "ENGINE": UNKNOWN}
        if qualname == "dict":
            return dict(kwargs)
        return UNKNOWN
