"""What a function body does that waits in the calling thread: network calls (SDKs, HTTP, mail), sleeps, file and
process I/O, cache round trips, ORM queries, QuerySet evaluation, ``async_to_sync`` bridges.

Each is an ``Effect`` found in the function's own body (not in what it calls: ``calls`` follows those). The rules
decide what an effect means where it is found: on the event loop it blocks (LR1xx); in a sync view an LLM call
holds a worker (LR201).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from longrun.audit import known_apis
from longrun.audit.analysis.context import Context
from longrun.audit.analysis.kinds import ClientKind, InstanceKind, QuerySetKind
from longrun.audit.analysis.project import Function, own_nodes, root_of
from longrun.audit.analysis.scope import Scope

NETWORK = "network"
SLEEP = "sleep"
FILE = "file"
ORM = "orm"
ITERATE = "iterate"
BRIDGE = "bridge"
CACHE = "cache"
PROCESS = "process"


@dataclass(frozen=True, slots=True)
class Effect:
    """One blocking operation in a function body."""

    category: str
    line: int
    what: str  # how messages show it: "`requests.post()`", "`client.chat.completions.create()` on a sync ..."
    node: ast.AST
    twin: str = ""  # what to use instead, ready for a message
    llm: bool = False  # waits on a model (or a search or speech service)
    no_timeout: bool = False  # a network call that can wait for ever
    api: str = ""  # the qualified name of a known function it calls (get_object_or_404, requests.post)


def short(node: ast.AST, limit: int = 60) -> str:
    """A one-line rendering of a node for messages."""
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def awaited_calls(fn: Function) -> set[int]:
    """Ids of the calls in ``fn`` that are awaited."""
    return {id(node.value) for node in own_nodes(fn.node) if isinstance(node, ast.Await)}


def effects(ctx: Context, fn: Function) -> list[Effect]:
    """Every blocking operation in the function's own body, in source order."""
    key = ("effects", id(fn.node))
    cached = ctx._answers.get(key)
    if isinstance(cached, list):
        return cached
    scope = ctx.scope(fn)
    awaited = awaited_calls(fn)
    found: list[Effect] = []
    for node in own_nodes(fn.node):
        if isinstance(node, ast.Call):
            effect = call_effect(scope, node, awaited=id(node) in awaited)
            if effect is not None:
                found.append(effect)
        elif isinstance(node, ast.For | ast.comprehension) and not (
            isinstance(node, ast.comprehension) and node.is_async
        ):
            found.extend(
                _iteration(
                    scope, node.iter, node, "for ... in" if isinstance(node, ast.For) else "a comprehension over"
                )
            )
        elif (
            isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and not isinstance(node.slice, ast.Slice)
        ):
            if isinstance(scope.kind(node.value), QuerySetKind):
                found.append(Effect(ITERATE, node.lineno, f"indexing `{short(node)}`", node))
        elif isinstance(node, ast.If | ast.While | ast.IfExp | ast.Assert):
            found.extend(_truth(scope, node.test))
        elif isinstance(node, ast.BoolOp):
            for value in node.values:
                found.extend(_truth(scope, value))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            found.extend(_truth(scope, node.operand))
    ctx._answers[key] = found
    return found


def _iteration(scope: Scope, iterable: ast.expr, node: ast.AST, how: str) -> list[Effect]:
    kind = scope.kind(iterable)
    line = iterable.lineno
    if isinstance(kind, QuerySetKind):
        return [Effect(ITERATE, line, f"{how} `{short(iterable)}`", node)]
    if isinstance(kind, ClientKind) and kind.api == "llm.Stream":
        return [
            Effect(
                NETWORK,
                line,
                f"{how} `{short(iterable)}` (a sync stream of {kind.cls})",
                node,
                "the async client's stream, iterated with `async for`",
                llm=True,
            )
        ]
    return []


def _truth(scope: Scope, test: ast.expr) -> list[Effect]:
    # `if qs:` evaluates the whole QuerySet to test it.
    if isinstance(test, ast.Name | ast.Call | ast.Attribute) and isinstance(scope.kind(test), QuerySetKind):
        if (
            isinstance(test, ast.Call)
            and isinstance(test.func, ast.Attribute)
            and test.func.attr not in (known_apis.QUERYSET_CHAIN)
        ):
            return []
        return [Effect(ITERATE, test.lineno, f"the truth test of `{short(test)}`", test)]
    return []


def twin_call(call: ast.Call, name: str) -> str:
    """``await`` of the call with its function renamed: what a sync ORM call becomes."""
    func: ast.expr = ast.Attribute(call.func.value, name) if isinstance(call.func, ast.Attribute) else ast.Name(name)
    return "await " + short(ast.Call(func, call.args, call.keywords))


def call_effect(scope: Scope, call: ast.Call, *, awaited: bool = False) -> Effect | None:
    """What a call blocks on, when the audit can tell."""
    qualname = scope.qualify(call.func) or ""
    line = call.lineno
    function = known_apis.FUNCTIONS.get(qualname)
    if function is not None and function.returns is None:
        if qualname == "time.sleep":
            return Effect(SLEEP, line, "`time.sleep()`", call, function.twin, api=qualname)
        if qualname.startswith(("subprocess.", "os.")):
            return Effect(PROCESS, line, f"`{qualname}()`", call, function.twin)
        llm = function.llm or (qualname.startswith(("requests.", "httpx.", "urllib.")) and _http_llm(scope, call))
        return Effect(
            NETWORK,
            line,
            f"`{qualname}()`",
            call,
            function.twin,
            llm=llm,
            no_timeout=_no_timeout(function, call),
            api=qualname,
        )
    if qualname in {"smtplib.SMTP", "smtplib.SMTP_SSL"}:
        return Effect(NETWORK, line, f"`{qualname}()` (it connects)", call, "aiosmtplib")
    if isinstance(call.func, ast.Call) and scope.qualify(call.func.func) == known_apis.ASYNC_TO_SYNC:
        # Only calling the wrapper fails on the loop's thread; building it (to hand to sync code) is fine.
        return Effect(BRIDGE, line, f"`{short(call)}`", call)
    if qualname in known_apis.SYNC_DB_FUNCTIONS:
        twin = twin_call(call, known_apis.SYNC_DB_FUNCTIONS[qualname])
        return Effect(ORM, line, f"`{short(call)}`", call, twin, api=qualname)
    if qualname in {"open", "io.open", "tempfile.NamedTemporaryFile", "tempfile.TemporaryFile"}:
        return Effect(FILE, line, f"`{short(call)}`", call, "`await asyncio.to_thread(...)`")
    if qualname in known_apis.EVALUATING_BUILTINS and call.args and isinstance(scope.kind(call.args[0]), QuerySetKind):
        return Effect(ITERATE, line, f"`{short(call)}`", call)
    if not isinstance(call.func, ast.Attribute):
        target = scope.kind(call.func)
        if isinstance(target, ClientKind) and target.family and not target.local:
            # Calling a chain or a chat model directly (the old `__call__`) runs it.
            return Effect(
                NETWORK, line, f"`{short(call.func)}(...)` ({target.label})", call, "`await x.ainvoke(...)`", llm=True
            )
        return None
    method = call.func.attr
    receiver = scope.kind(call.func.value)
    if isinstance(receiver, QuerySetKind) and method in known_apis.QUERYSET_SQL:
        twin = "" if method == "iterator" else twin_call(call, "a" + method)
        return Effect(ORM, line, f"`{short(call)}`", call, twin)
    if isinstance(receiver, InstanceKind) and method in known_apis.INSTANCE_SQL:
        return Effect(ORM, line, f"`{short(call)}`", call, twin_call(call, "a" + method))
    if method in known_apis.FILE_METHODS and not awaited:
        return Effect(FILE, line, f"`{short(call)}`", call, "`await asyncio.to_thread(...)`")
    return _client_effect(scope, call, method)


def _client_effect(scope: Scope, call: ast.Call, method: str) -> Effect | None:
    func = call.func
    assert isinstance(func, ast.Attribute)
    root = root_of(func)
    kind = scope.kind(root)
    path = _path(func)
    if not isinstance(kind, ClientKind):
        # `self.client.chat.completions.create`: the client is an attribute; look for the deepest known object.
        kind, path = _deepest_client(scope, func)
        if kind is None:
            return None
    if not kind.is_sync:
        return None
    entry = kind.entry
    rendered = f"`{short(func)}()`"
    if entry is not None:
        if path and entry.async_path is not None and path[0] == entry.async_path:
            return None
        if entry.async_suffix and method.endswith(entry.async_suffix):
            return None
        if method in entry.local or method.startswith("_") or method in entry.returns:
            return None
        if entry.blocking is not None and method not in entry.blocking:
            return None
        category = {"cache": CACHE, "process": PROCESS}.get(entry.category, NETWORK)
        twin = entry.twin
        if entry.method_twin == "a":
            twin = f"`{twin_call(call, 'a' + method)}`"
        elif entry.method_twin == "_async":
            twin = f"`{twin_call(call, method + '_async')}`"
        where = f" on a sync {kind.label} client" if category == NETWORK else ""
        quick = method in entry.quick or ".".join(path) in entry.quick
        return Effect(category, call.lineno, rendered + where, call, twin, llm=entry.llm and not quick)
    family = next(f for f in known_apis.FAMILIES if f.name == kind.family)
    name = kind.cls.rpartition(".")[2]
    if not kind.local and family.loaders.search(name) and method in family.loader_methods:
        # A document loader: it reads a file, or fetches pages; no model is involved.
        local_file = bool(family.file_loaders.search(name))
        what = f"{rendered} on {kind.label} ({family.name})"
        twin = f"`{twin_call(call, 'alazy_load' if method == 'lazy_load' else 'aload')}`"
        return Effect(FILE if local_file else NETWORK, call.lineno, what, call, twin)
    if kind.local or method not in family.blocking:
        return None
    return Effect(
        NETWORK,
        call.lineno,
        f"{rendered} on {kind.label} ({family.name})",
        call,
        f"`{twin_call(call, family.twin_prefix + method)}`",
        llm=True,
    )


def _path(func: ast.Attribute) -> list[str]:
    parts: list[str] = []
    node: ast.expr = func
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return list(reversed(parts))[:-1]


def _deepest_client(scope: Scope, func: ast.Attribute) -> tuple[ClientKind | None, list[str]]:
    chain: list[ast.Attribute] = []
    node: ast.expr = func.value
    while isinstance(node, ast.Attribute):
        chain.append(node)
        node = node.value
    # chain[0] is the receiver of the method; try the receivers from the root outwards.
    for depth, receiver in enumerate(reversed(chain)):
        kind = scope.kind(receiver)
        if isinstance(kind, ClientKind):
            remaining = [a.attr for a in reversed(chain)][depth + 1 :]
            return kind, remaining
    if isinstance(node, ast.Call | ast.Subscript):
        kind = scope.kind(node)
        if isinstance(kind, ClientKind):
            return kind, [a.attr for a in reversed(chain)]
    return None, []


def _no_timeout(function: known_apis.Function, call: ast.Call) -> bool:
    if any(k.arg is None for k in call.keywords):
        return False  # `**options` may well carry the timeout
    timeout = next((k.value for k in call.keywords if k.arg == "timeout"), None)
    if isinstance(timeout, ast.Constant) and timeout.value is None:
        return True
    if not function.no_default_timeout or timeout is not None:
        return False
    return function.timeout_position is None or len(call.args) <= function.timeout_position


def _http_llm(scope: Scope, call: ast.Call) -> bool:
    """Plain HTTP to an LLM server: a URL of one, a JSON payload with a model and messages or a prompt, or a
    streamed response."""
    keywords = {k.arg: k.value for k in call.keywords if k.arg}
    stream = keywords.get("stream")
    if isinstance(stream, ast.Constant) and stream.value is True:
        return True
    url = call.args[0] if call.args else keywords.get("url")
    if url is not None and known_apis.LLM_URL.search(_text(scope, url)):
        return True
    for name in ("json", "data"):
        payload = keywords.get(name)
        if payload is not None and _llm_payload(scope, payload):
            return True
    return False


def _text(scope: Scope, expr: ast.expr, depth: int = 0) -> str:
    """The constant text an expression is built from (a literal, a constant it names, an f-string's parts)."""
    if depth > 4:
        return ""
    expr = scope.value_of(expr)
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    if isinstance(expr, ast.JoinedStr):
        return "".join(
            _text(scope, v.value if isinstance(v, ast.FormattedValue) else v, depth + 1) for v in expr.values
        )
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return _text(scope, expr.left, depth + 1) + _text(scope, expr.right, depth + 1)
    if isinstance(expr, ast.Name | ast.Attribute):
        qualname = scope.qualify(expr)
        found = scope.ctx.project.lookup(qualname) if qualname else None
        if found is not None and len(values := found[0].assigns.get(found[1], [])) == 1:
            return _text(scope.ctx.module_scope(found[0]), values[0], depth + 1)
    return ""


def _llm_payload(scope: Scope, payload: ast.expr) -> bool:
    payload = scope.value_of(payload)
    if isinstance(payload, ast.Call) and scope.qualify(payload.func) == "json.dumps" and payload.args:
        payload = scope.value_of(payload.args[0])
    if not isinstance(payload, ast.Dict):
        return False
    keys = {k.value for k in payload.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return "model" in keys and bool(keys & known_apis.LLM_PAYLOAD_KEYS)
