"""Reads a settings module as source: the values its top-level statements give each setting, without running it.

Branches (``if``/``try``) give a setting several candidate values. Values read from the environment are taken at
their defaults (``os.environ.get("X", 600)``, ``env.int("X", default=600)``, django-environ's scheme,
python-decouple's ``config(..., default=...)``), since that is what the project runs with when nobody sets them;
``X if DEBUG else Y`` keeps both branches as a ``Choice``. A value read with no default (``os.environ["X"]``),
or from any other call, stays ``UNKNOWN``, and the rules ignore it.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from longrun.audit.analysis.project import Module, Project

UNKNOWN: Final = object()
MAX_STAR_DEPTH = 4
TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "on"})


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


class Choice(tuple):  # type: ignore[type-arg]
    """Values an expression may have, depending on something the source does not settle (``X if DEBUG else Y``)."""


def alternatives(value: object) -> list[object]:
    """Every value a setting may take: the alternatives of a Choice, else the value itself."""
    if isinstance(value, Choice):
        return [v for item in value for v in alternatives(item)]
    return [value]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One value a setting may have, and the line that assigns it."""

    value: object
    line: int


@dataclass(frozen=True, slots=True)
class EnvReader:
    """A django-environ ``Env`` object: its scheme gives defaults (``Env(DEBUG=(bool, False))``)."""

    scheme: dict[str, object]


Env = dict[str, list[Candidate]]


def place_of(value: object, path: str, line: int) -> tuple[str, int]:
    """Where a string value was written, when it came from source; else the given place."""
    return (value.path, value.line) if isinstance(value, LStr) else (path, line)


def read_settings(project: Project, module: Module) -> Env:
    """The candidate values of every top-level name of a settings module."""
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


def _lift(function: Callable[..., object], *values: object) -> object:
    """``function`` applied to every combination of alternatives; UNKNOWN when any input is unknown."""
    combos: list[list[object]] = [[]]
    for value in values:
        combos = [[*combo, v] for combo in combos for v in alternatives(value)]
    results: list[object] = []
    for combo in combos:
        if any(v is UNKNOWN for v in combo):
            return UNKNOWN
        try:
            results.append(function(*combo))
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, ZeroDivisionError):
            return UNKNOWN
    unique: list[object] = []
    for result in results:
        if not any(result is seen or (type(result) is type(seen) and result == seen) for seen in unique):
            unique.append(result)
    return unique[0] if len(unique) == 1 else Choice(unique)


def _to_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in TRUE_WORDS
    return bool(value)


CASTS: dict[str, Callable[[object], object]] = {
    "int": lambda v: int(v),  # type: ignore[call-overload]
    "float": lambda v: float(v),  # type: ignore[arg-type]
    "bool": _to_bool,
    "str": str,
}
COMPARISONS: dict[type, Callable[[Any, Any], object]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
STRING_METHODS = frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "title", "casefold"})
ENVIRON_GETTERS = frozenset({"os.environ.get", "os.getenv", "os.environ.setdefault"})


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
                if len(candidates) == 1:
                    return candidates[0].value
                if candidates and all(c.value is not UNKNOWN for c in candidates):
                    return Choice(c.value for c in candidates)
                return UNKNOWN
            case ast.BinOp(left=left, op=ast.Add(), right=right):
                a, b = self.eval(left, env), self.eval(right, env)
                if isinstance(a, list) and isinstance(b, list):
                    return a + b
                return _lift(operator.add, a, b) if isinstance(a, str | int | float) else UNKNOWN
            case ast.Subscript(value=value, slice=key):
                container, index = self.eval(value, env), self.eval(key, env)
                if isinstance(container, dict) and isinstance(index, str) and index in container:
                    return container[index]
                return UNKNOWN
            case ast.IfExp(test=test, body=body, orelse=orelse):
                condition = self.eval(test, env)
                if condition is not UNKNOWN and not isinstance(condition, Choice):
                    return self.eval(body if _to_bool(condition) else orelse, env)
                return Choice([self.eval(body, env), self.eval(orelse, env)])
            case ast.BoolOp(op=ast.Or(), values=values):
                return self._or([self.eval(v, env) for v in values])
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                return _lift(lambda v: not _to_bool(v), self.eval(operand, env))
            case ast.Compare(left=left, ops=[op], comparators=[right]) if type(op) in COMPARISONS:
                return _lift(COMPARISONS[type(op)], self.eval(left, env), self.eval(right, env))
            case ast.Call():
                return self.call(expr, env)
        return UNKNOWN

    def _scheme(self, value: ast.expr, env: Env) -> object:
        # Env(DEBUG=(bool, False)): the cast by name, and the default.
        if isinstance(value, ast.Tuple) and len(value.elts) == 2 and isinstance(value.elts[0], ast.Name):
            return (value.elts[0].id, self.eval(value.elts[1], env))
        return UNKNOWN

    def _or(self, values: list[object]) -> object:
        for value in values:
            if value is UNKNOWN or isinstance(value, Choice):
                return UNKNOWN
            if _to_bool(value):
                return value
        return values[-1] if values else UNKNOWN

    def call(self, call: ast.Call, env: Env) -> object:
        func = call.func
        args = [self.eval(a, env) for a in call.args]
        kwargs = {k.arg: self.eval(k.value, env) for k in call.keywords if k.arg}
        if isinstance(func, ast.Attribute) and func.attr in STRING_METHODS and not call.args:
            method = func.attr
            return _lift(lambda s: getattr(s, method)() if isinstance(s, str) else UNKNOWN, self.eval(func.value, env))
        receiver = self.eval(func.value, env) if isinstance(func, ast.Attribute) else None
        if isinstance(receiver, EnvReader) and isinstance(func, ast.Attribute):
            return _env_method(receiver, func.attr, args, kwargs)
        named = self.eval(func, env) if isinstance(func, ast.Name) and func.id in env else None
        if isinstance(named, EnvReader):
            return _env_method(named, "__call__", args, kwargs)
        qualname = self.module.qualify(func) or ""
        if qualname in ENVIRON_GETTERS:
            # Unset, the variable gives its default (None without one).
            return args[1] if len(args) > 1 else kwargs.get("default")
        if qualname in CASTS and len(args) == 1:
            return _lift(CASTS[qualname], args[0])
        if qualname in {"environ.Env", "environ.environ.Env"}:
            return EnvReader({k.arg: self._scheme(k.value, env) for k in call.keywords if k.arg})
        if qualname.startswith("decouple."):
            return _decouple(args, kwargs, _cast_name(call))
        if qualname in {"dj_database_url.config", "dj_database_url.parse"}:
            # dj-database-url builds a database dict whose CONN_MAX_AGE is its conn_max_age argument (default 0).
            line = call.lineno
            return {LStr("CONN_MAX_AGE", line, self.module.rel): kwargs.get("conn_max_age", 0), "ENGINE": UNKNOWN}
        if qualname == "dict":
            return dict(kwargs)
        return UNKNOWN


def _env_method(reader: EnvReader, method: str, args: list[object], kwargs: dict[str, object]) -> object:
    """django-environ: ``env("X")``, ``env.int("X", default=...)``, ``env.db()``: the default when unset."""
    name = args[0] if args else kwargs.get("var")
    if method in {"db", "db_url", "database_url"}:
        return {"ENGINE": UNKNOWN}
    default = kwargs.get("default", args[1] if len(args) > 1 else UNKNOWN)
    cast = method if method in CASTS else None
    if default is UNKNOWN and isinstance(name, str) and name in reader.scheme:
        scheme = reader.scheme[name]
        if isinstance(scheme, tuple) and len(scheme) == 2:
            default = scheme[1]
            cast = cast or (scheme[0] if scheme[0] in CASTS else None)
    if default is UNKNOWN:
        return UNKNOWN
    return _lift(CASTS[cast], default) if cast else default


def _decouple(args: list[object], kwargs: dict[str, object], cast: str | None) -> object:
    """python-decouple: ``config("X", default=..., cast=bool)``, the default (cast) when unset."""
    default = kwargs.get("default", args[1] if len(args) > 1 else UNKNOWN)
    if default is UNKNOWN:
        return UNKNOWN
    return _lift(CASTS[cast], default) if cast in CASTS else default


def _cast_name(call: ast.Call) -> str | None:
    cast = next((k.value for k in call.keywords if k.arg == "cast"), None)
    return cast.id if isinstance(cast, ast.Name) else None


def iter_values(value: object) -> Iterator[object]:
    """Alternatives of a value (a Choice), or the value."""
    yield from alternatives(value)
