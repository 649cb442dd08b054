"""Rules for the thread hops longrun's handler and consumer mixin remove: Django's own ASGI handler serving the
project (LR206), and Channels consumers that hop to a thread before each message (LR305). The third such hop,
a ``MiddlewareMixin`` hook, is a settings rule (LR406, ``longrun.audit.settings_rules``).

Both are Info findings. Django's handler and Channels' dispatch are correct, and every project that has not
adopted the replacements has them: what they cost is capacity (CPU per request or message, and for the handler a
thread per request), which matters at thousands of concurrent users and not before, so they never fail an audit.
The costs in the messages are this project's measurements (``docs/migration-guide.md``, "What a thread hop
costs").
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from longrun.audit.analysis.context import Context
from longrun.audit.analysis.project import FuncNode, Module, Project
from longrun.audit.model import Finding, Severity, check, rule

STOCK_HANDLER = rule(
    "LR206",
    Severity.INFO,
    "Django's own ASGI handler: a thread and three hops per request, even for an async view",
    message="{subject} builds Django's own ASGI handler: every request gets a thread, held to its end, and three "
    "hops to it (request_started, request_finished, response.close), even in a fully async view: about 0.4 ms of "
    "CPU per request (284 us to start and join the thread, 58 us per further hop). Serve with "
    "`longrun.asgi.get_asgi_application()`.",
    fix="Import `get_asgi_application` from `longrun.asgi` instead of `django.core.asgi` (Django 4.2+): the same "
    "request cycle, with the signals and the response's close run on the event loop when they can do nothing on a "
    "thread. An info: Django's handler is correct; it costs capacity (at 1000 waiting users, 1013 threads).",
)
HOP_PER_MESSAGE = rule(
    "LR305",
    Severity.INFO,
    "Channels consumer that hops to a thread before each message (close_old_connections)",
    message="{subject} hop{s} to a thread before every message: Channels' dispatch awaits "
    "`sync_to_async(close_old_connections)` (58 us of CPU), on the one thread all consumers' thread-sensitive work "
    "shares, so a message waits behind other sockets' database work. Put `longrun.consumers.NoHopDispatchMixin` "
    "first in {where} bases.",
    fix="Add the mixin before the Channels class: `class ChatConsumer(NoHopDispatchMixin, AsyncJsonWebsocketConsumer)` "
    "(`from longrun.consumers import NoHopDispatchMixin`); it runs the housekeeping only when that thread holds a "
    "database connection. An info: Channels' dispatch is correct; it costs a hop per message.",
)

DJANGO_HANDLERS = frozenset({"django.core.asgi.get_asgi_application", "django.core.handlers.asgi.ASGIHandler"})
DJANGO_HANDLER_CLASS = "django.core.handlers.asgi.ASGIHandler"
# Channels' async consumers: AsyncConsumer.dispatch makes the hop (sync consumers run each handler on a thread
# anyway, so for them the hop is the handler's own).
CHANNELS_ASYNC = frozenset(
    {
        "channels.consumer.AsyncConsumer",
        "channels.generic.websocket.AsyncWebsocketConsumer",
        "channels.generic.websocket.AsyncJsonWebsocketConsumer",
        "channels.generic.http.AsyncHttpConsumer",
    }
)
NO_HOP_MIXIN = "longrun.consumers.NoHopDispatchMixin"


@check(STOCK_HANDLER)
def stock_handlers(ctx: Context) -> Iterator[Finding]:
    """Each call that builds Django's ``ASGIHandler``: ``django.core.asgi.get_asgi_application()`` (under any
    name), the class itself, or a project subclass that keeps its ``handle``."""
    for scope, call in ctx.all_calls():
        name = scope.qualify(call.func)
        if name is None:
            continue
        if name in DJANGO_HANDLERS or _stock_subclass(ctx.project, name):
            subject = f"`{ast.unparse(call.func)}()`"
            if name.rpartition(".")[2] != ast.unparse(call.func).rpartition(".")[2]:
                subject += f" (`{name}`)"
            yield STOCK_HANDLER.at(scope.module, call.lineno, subject=subject)


def _stock_subclass(project: Project, name: str) -> bool:
    """True for a project class built on Django's ``ASGIHandler`` (not longrun's) that does not replace ``handle``,
    where the hops are."""
    found = project.klass(name)
    if found is None:
        return False
    mro = list(project.mro(*found))
    if any(_defines(owner, "handle") for _, owner in mro):
        return False
    return DJANGO_HANDLER_CLASS in project.base_names(*found)


@check(HOP_PER_MESSAGE)
def hopping_consumers(ctx: Context) -> Iterator[Finding]:
    """Each async consumer class that is served (routed with ``as_asgi()``, or built on by no other class) and
    dispatches through Channels' ``AsyncConsumer.dispatch``: reported once at the class that names Channels' class
    in its bases, where the mixin goes, with every such consumer built on it."""
    project = ctx.project
    classes = [(module, cls) for module in project.modules for cls in module.classes.values()]
    extended = {id(base) for module, cls in classes for _, base in list(project.mro(module, cls))[1:]}
    routed = _routed(ctx)
    hopping: dict[int, tuple[Module, ast.ClassDef, list[str]]] = {}
    for module, cls in classes:
        if id(cls) in extended and id(cls) not in routed:
            continue
        place = _hop_place(project, module, cls)
        if place is not None:
            hopping.setdefault(id(place[1]), (place[0], place[1], []))[2].append(cls.name)
    for module, base, leaves in hopping.values():
        if leaves == [base.name]:
            subject, s, where = f"`{base.name}`", "s", "its"
        else:
            built = ", ".join(f"`{name}`" for name in leaves if name != base.name)
            subject, s, where = f"`{base.name}` and what is built on it ({built})", "", f"`{base.name}`'s"
        yield HOP_PER_MESSAGE.at(module, base.lineno, subject=subject, s=s, where=where)


def _routed(ctx: Context) -> set[int]:
    """The project's classes a ``Cls.as_asgi()`` call serves."""
    routed: set[int] = set()
    for scope, call in ctx.all_calls():
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "as_asgi":
            name = scope.qualify(func.value)
            found = ctx.project.klass(name) if name else None
            if found is not None:
                routed.add(id(found[1]))
    return routed


def _hop_place(project: Project, module: Module, cls: ast.ClassDef) -> tuple[Module, ast.ClassDef] | None:
    """Where the mixin goes for a consumer that hops: the class of its MRO (the project's part) that names a
    Channels async consumer among its bases; None when it does not hop, or the source cannot tell."""
    place: tuple[Module, ast.ClassDef] | None = None
    for owner_module, owner in project.mro(module, cls):
        bases = {q for base in owner.bases if (q := owner_module.qualify(base))}
        if NO_HOP_MIXIN in bases or _own_dispatch(owner):
            return None
        if place is None and bases & CHANNELS_ASYNC:
            place = owner_module, owner
    return place


def _own_dispatch(cls: ast.ClassDef) -> bool:
    """True when the class replaces ``dispatch`` without calling Channels' (``super().dispatch``)."""
    for stmt in cls.body:
        if isinstance(stmt, FuncNode) and stmt.name == "dispatch":
            return not any(
                isinstance(n, ast.Attribute)
                and n.attr == "dispatch"
                and isinstance(n.value, ast.Call)
                and isinstance(n.value.func, ast.Name)
                and n.value.func.id == "super"
                for n in ast.walk(stmt)
            )
    return False


def _defines(cls: ast.ClassDef, name: str) -> bool:
    return any(isinstance(stmt, FuncNode) and stmt.name == name for stmt in cls.body)
