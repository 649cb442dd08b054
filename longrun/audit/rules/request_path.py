"""Rules for the request path (LR201-LR205): sync views that wait on a model, streams Django buffers under ASGI,
clients rebuilt per request, network calls that can wait for ever, LLM clients left on a ten-minute timeout.

The request path starts at the entries of ``analysis.entries`` (views of every shape, DRF policies, middleware,
template filters, streamed generators, consumers' message handlers) and runs through every project function they
call. Code off it (management commands, Celery tasks, scripts, import time) is not judged by LR201-LR204.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping

from longrun.audit import known_apis
from longrun.audit.analysis.calls import Reached, reachable, reached, render_chain
from longrun.audit.analysis.context import Context
from longrun.audit.analysis.effects import NETWORK, effects, short
from longrun.audit.analysis.entries import Entry, entries, handler_roots, streaming_responses
from longrun.audit.analysis.kinds import ClientKind
from longrun.audit.analysis.project import Function, is_generator, own_nodes
from longrun.audit.model import Finding, Severity, check, rule

SYNC_VIEW_LLM = rule(
    "LR201",
    Severity.WARNING,
    "Sync view (or other sync request-path code) waiting on an LLM",
    message="{subject} holds a worker for the whole call{chain}: {advice}.",
    fix="Make the view `async def` and await an async client (AsyncOpenAI, httpx.AsyncClient, the SDK's async "
    "twin): a sync view holds a worker (under ASGI, a thread) for the whole call, and a client that leaves does not "
    "stop it.",
)
SYNC_STREAM = rule(
    "LR202",
    Severity.WARNING,
    "Sync generator handed to StreamingHttpResponse",
    message="StreamingHttpResponse gets {generator}: under ASGI Django reads it whole before sending a byte. Stream "
    "from an async generator instead.",
    fix="Stream from an async generator (`async def ...: yield`); for a sync one, wrap it: "
    "`StreamingHttpResponse(longrun.bridges.streaming_content_for(request, gen))`.",
)
CLIENT_PER_REQUEST = rule(
    "LR203",
    Severity.WARNING,
    "HTTP or LLM client built per request (or per message)",
    message="{subject} builds a new {client} on every {unit}{chain}: build it once per process and reuse it.",
    fix="Build the client once per process (a module-level client, or a cached factory) and reuse it: each new client "
    "opens a new connection pool and new TLS handshakes.",
)
NO_TIMEOUT = rule(
    "LR204",
    Severity.WARNING,
    "Network call with no timeout on the request path",
    message="{subject} {problem}{chain}: pass `timeout=` in seconds.",
    fix="Pass `timeout=` (seconds): without one a stalled server holds the call, and its worker or task, for ever.",
)
LLM_DEFAULT_TIMEOUT = rule(
    "LR205",
    Severity.INFO,
    "LLM SDK client built without an explicit timeout",
    message="`{cls}()` without `timeout=` waits up to {default} on a stalled call: pass a timeout.",
    fix="Pass `timeout=` to the client (for example `httpx.Timeout(60, connect=10)`) so a stalled stream ends.",
)

SYNC_ROLES = frozenset({"view", "middleware", "template filter", "streamed generator"})


@check(SYNC_VIEW_LLM)
def sync_request_path_llm(ctx: Context) -> Iterator[Finding]:
    """Every sync entry: the LLM calls it makes, directly or through the project functions it calls."""
    found = entries(ctx)
    for entry in found.values():
        fn = entry.fn
        if fn.is_async or entry.role not in SYNC_ROLES:
            continue
        seen: set[int] = set()
        for item in reached(ctx, fn, generators=True):
            effect = item.effect
            if effect.category != NETWORK or not effect.llm or isinstance(effect.node, ast.For | ast.comprehension):
                # Reading a stream the request path opened elsewhere: the call that opened it is reported.
                continue
            if any(id(link.callee.node) in found for link in item.chain):
                continue  # the chain enters another entry, which reports it itself
            line = item.chain[0].call.lineno if item.chain else effect.line
            if line in seen:
                continue
            seen.add(line)
            yield _llm_finding(fn, entry.role, item, line)


def _llm_finding(fn: Function, role: str, item: Reached, line: int) -> Finding:
    effect = item.effect
    what = "sync " + role if not role.startswith("streamed") else "the streamed generator"
    if not item.chain:
        twin = effect.twin or "an async client"
        return SYNC_VIEW_LLM.at(
            fn.module,
            line,
            subject=f"{effect.what} in {what} `{fn.name}`",
            chain="",
            advice=f"make it async and await {twin}",
        )
    first = item.chain[0]
    return SYNC_VIEW_LLM.at(
        fn.module,
        line,
        subject=f"`{short(first.call.func)}()` in {what} `{fn.name}`",
        chain=f" ({render_chain(fn, item)})",
        advice=f"make it async and await an async twin of `{first.callee.name}`",
    )


@check(SYNC_STREAM)
def sync_streams(ctx: Context) -> Iterator[Finding]:
    """StreamingHttpResponse built from a generator expression or a sync generator function's generator."""
    for scope, call, content in streaming_responses(ctx):
        generator: str | None = None
        if isinstance(content, ast.GeneratorExp):
            generator = "a generator expression"
        elif isinstance(content, ast.Call):
            callees = scope.callees(content)
            if callees and all(not fn.is_async and is_generator(fn.node) for fn in callees):
                generator = f"the sync generator `{short(content.func)}()`"
        if generator is not None:
            yield SYNC_STREAM.at(scope.module, call.lineno, generator=generator)


def _caches(fn: Function) -> bool:
    """True when a function keeps what it builds: a caching decorator, or a ``global`` it fills."""
    for decorator in fn.node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if fn.module.qualify(target) in known_apis.CACHING_DECORATORS:
            return True
    return any(isinstance(n, ast.Global) for n in own_nodes(fn.node))


def _pooled(kind: object) -> str | None:
    """The class a kind is an object of, when building one opens a connection pool."""
    if not isinstance(kind, ClientKind):
        return None
    entry = kind.entry
    if entry is not None:
        return kind.label if entry.pooled else None
    family = next((f for f in known_apis.FAMILIES if f.name == kind.family), None)
    name = kind.cls.rpartition(".")[2]
    return kind.cls if family is not None and family.pooled_classes.search(name) else None


def _guarded(fn: Function, call: ast.Call) -> bool:
    """True when the construction sits under an ``if x is None`` (or ``if not x``) test: built once, then kept."""
    for node in own_nodes(fn.node):
        if isinstance(node, ast.If) and any(n is call for stmt in node.body for n in ast.walk(stmt)):
            test = ast.unparse(node.test)
            if " is None" in test or test.startswith("not "):
                return True
    return False


def _returned(fn: Function, call: ast.Call) -> bool:
    """True when the function hands the built client back (a factory): its callers are judged instead."""
    for node in own_nodes(fn.node):
        if isinstance(node, ast.Return) and node.value is not None:
            if node.value is call:
                return True
            if isinstance(node.value, ast.Name):
                scope_values = [
                    n.value
                    for n in own_nodes(fn.node)
                    if isinstance(n, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == node.value.id for t in n.targets)
                ]
                if any(v is call for v in scope_values):
                    return True
    return False


@check(CLIENT_PER_REQUEST)
def clients_per_request(ctx: Context) -> Iterator[Finding]:
    """Clients built in code that runs per request or per message: a constructor call, or a call of a project
    factory that builds a fresh client each time."""
    found = entries(ctx)
    reach = reachable(ctx, handler_roots(ctx), skip=lambda fn: _caches(fn) or _per_connection(found, fn))
    for fn in ctx.project.functions():
        if id(fn.node) not in reach:
            continue
        scope = ctx.scope(fn)
        unit = "message" if fn.cls is not None and ctx.project.is_consumer(fn.module, fn.cls) else "request"
        for node in own_nodes(fn.node):
            if not isinstance(node, ast.Call) or _guarded(fn, node):
                continue
            qualname = scope.qualify(node.func) or ""
            built = _pooled(ctx.constructed(qualname, node, scope)) if qualname else None
            if built is not None and not _returned(fn, node):
                yield CLIENT_PER_REQUEST.at(
                    fn.module, node.lineno, subject=f"`{short(node.func)}(...)`", client=built, unit=unit, chain=""
                )
                continue
            for factory in scope.callees(node):
                made = _factory_builds(ctx, factory)
                if made is not None:
                    yield CLIENT_PER_REQUEST.at(
                        fn.module,
                        node.lineno,
                        subject=f"`{short(node.func)}()`",
                        client=made,
                        unit=unit,
                        chain=f" ({factory.where})",
                    )
                    break


def _per_connection(found: Mapping[int, Entry], fn: Function) -> bool:
    entry = found.get(id(fn.node))
    return entry is not None and entry.role == "consumer"


def _factory_builds(ctx: Context, factory: Function) -> str | None:
    """The pooled client a project function builds afresh and returns on each call (None when it caches)."""
    if _caches(factory) or factory.is_async or is_generator(factory.node) or factory.node.name == "__init__":
        return None
    scope = ctx.scope(factory)
    for node in own_nodes(factory.node):
        if isinstance(node, ast.Call) and _returned(factory, node) and not _guarded(factory, node):
            qualname = scope.qualify(node.func) or ""
            built = _pooled(ctx.constructed(qualname, node, scope)) if qualname else None
            if built is not None:
                return built
    return None


@check(NO_TIMEOUT)
def missing_timeouts(ctx: Context) -> Iterator[Finding]:
    """Network calls that can wait for ever, in code on the request path; and clients built (anywhere) with
    ``timeout=None``, which make every call they serve wait for ever."""
    for scope, call in ctx.all_calls():
        qualname = scope.qualify(call.func) or ""
        if qualname in known_apis.CLIENTS and any(
            k.arg == "timeout" and isinstance(k.value, ast.Constant) and k.value.value is None for k in call.keywords
        ):
            yield NO_TIMEOUT.at(
                scope.module,
                call.lineno,
                subject=f"`{qualname}(timeout=None)`",
                problem="makes every call it serves wait for ever on a stalled server",
                chain="",
            )
    reach = reachable(ctx, handler_roots(ctx))
    for fn in ctx.project.functions():
        if id(fn.node) not in reach:
            continue
        for effect in effects(ctx, fn):
            if not effect.no_timeout or not isinstance(effect.node, ast.Call):
                continue
            explicit = any(
                k.arg == "timeout" and isinstance(k.value, ast.Constant) and k.value.value is None
                for k in effect.node.keywords
            )
            problem = (
                "waits for ever on a stalled server (`timeout=None`)"
                if explicit
                else ("has no timeout and can wait for ever")
            )
            yield NO_TIMEOUT.at(fn.module, effect.line, subject=effect.what, problem=problem, chain="")


@check(LLM_DEFAULT_TIMEOUT)
def llm_default_timeouts(ctx: Context) -> Iterator[Finding]:
    """LLM SDK clients built (anywhere) without ``timeout=``: their default is minutes long."""
    for scope, call in ctx.all_calls():
        qualname = scope.qualify(call.func) or ""
        entry = known_apis.CLIENTS.get(qualname)
        if entry is None or entry.default_timeout is None:
            continue
        if any(k.arg is None or k.arg == "timeout" for k in call.keywords):
            continue
        yield LLM_DEFAULT_TIMEOUT.at(scope.module, call.lineno, cls=qualname, default=entry.default_timeout)
