"""Settings rules: middleware, static files, database connections, channel layers and transactions under ASGI.

The same rules run on a settings module read as source (the audit) and on the running project's settings (the
system checks, ``longrun.checks``): both hand them a ``SettingsView``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Protocol

from longrun.audit.analysis.context import Context
from longrun.audit.analysis.project import Module, Project
from longrun.audit.model import Finding, Severity, check, rule
from longrun.audit.settings_source import UNKNOWN, Candidate, alternatives, place_of, read_settings, settings_modules

SYNC_MIDDLEWARE = rule(
    "LR401",
    Severity.WARNING,
    "Sync-only middleware in MIDDLEWARE (a function or class without async_capable)",
    message="`{entry}` is sync-only: every request to an async view crosses into a thread and back for it. Make it "
    "async-capable.",
    fix="Make it async-capable (`@sync_and_async_middleware`, or `async_capable = True` with an async `__acall__`), or "
    "replace it: one sync-only middleware runs every request through a thread and back.",
)
WHITENOISE = rule(
    "LR402",
    Severity.WARNING,
    "WhiteNoise serving static files under ASGI",
    message="`{entry}` is sync-only and serves files synchronously under ASGI: switch to "
    "servestatic.middleware.ServeStaticMiddleware.",
    fix="Replace `whitenoise.middleware.WhiteNoiseMiddleware` with `servestatic.middleware.ServeStaticMiddleware` "
    "(its async fork), or serve static files from the proxy or a CDN.",
)
CONN_MAX_AGE = rule(
    "LR403",
    Severity.WARNING,
    "CONN_MAX_AGE > 0 (or None) with an ASGI application",
    message="DATABASES[{alias!r}] keeps connections for CONN_MAX_AGE={shown} under ASGI, where each request's "
    "thread dies with its connection open: set 0 and use a connection pool.",
    fix='Set CONN_MAX_AGE = 0 and use a pool (PostgreSQL: OPTIONS={"pool": {...}}) or PgBouncer: under ASGI each '
    "request's sync work runs on a fresh thread, and a persistent connection dies open with it.",
)
IN_MEMORY_LAYER = rule(
    "LR404",
    Severity.WARNING,
    "In-memory channel layer with DEBUG off",
    message="CHANNEL_LAYERS[{alias!r}] is the in-memory layer with DEBUG {debug}: it is per process. Use "
    "RedisChannelLayer.",
    fix="Use `channels_redis.core.RedisChannelLayer` in production: the in-memory layer is per process, so group "
    "messages never reach sockets held by other processes.",
)
ATOMIC_REQUESTS = rule(
    "LR405",
    Severity.ERROR,
    "ATOMIC_REQUESTS with async views",
    message="DATABASES[{alias!r}] has ATOMIC_REQUESTS on, and Django refuses it for async views: turn it off and "
    "make the writes atomic in sync code.",
    fix="Turn ATOMIC_REQUESTS off (Django refuses it for async views) and wrap the writes that must be atomic in a "
    "sync function with `transaction.atomic()`, called through `sync_to_async`.",
)

WHITENOISE_PREFIX = "whitenoise."
IN_MEMORY_BACKEND = "channels.layers.InMemoryChannelLayer"
CAPABLE_DECORATORS = ("sync_and_async_middleware", "async_only_middleware")


class SettingsView(Protocol):
    """What the settings rules ask of a project's settings, read from source or from the running process."""

    path: str

    def candidates(self, name: str) -> list[Candidate]:
        """The values the setting may have (empty when it is not set)."""
        ...

    def middleware_sync_only(self, dotted: str) -> bool | None:
        """True when the middleware at that path is sync-only, False when async-capable, None when unknown."""
        ...

    def is_asgi(self) -> bool:
        """True when the project is (or is about to be) served by an ASGI application."""
        ...

    def has_async_views(self) -> bool:
        """True when the project has at least one async view."""
        ...


def settings_findings(view: SettingsView) -> Iterator[Finding]:
    """Every settings rule over one settings view (the audit's source reading, or the running settings)."""
    asgi = view.is_asgi()
    for candidate in view.candidates("MIDDLEWARE"):
        for value in alternatives(candidate.value):
            yield from _middleware(view, value, candidate.line, asgi)
    for candidate in view.candidates("DATABASES"):
        for value in alternatives(candidate.value):
            if isinstance(value, dict):
                for alias, config in value.items():
                    if isinstance(config, dict):
                        yield from _database(view, alias, config, candidate.line, asgi)
    debug = [v for c in view.candidates("DEBUG") for v in alternatives(c.value)]
    if any(value is False for value in debug):
        # Off in at least one configuration (the default of an environment variable, or a branch): production.
        for candidate in view.candidates("CHANNEL_LAYERS"):
            for value in alternatives(candidate.value):
                yield from _channel_layers(view, value, candidate.line, all(v is False for v in debug))


def _middleware(view: SettingsView, value: object, line: int, asgi: bool) -> Iterator[Finding]:
    if not isinstance(value, list):
        return
    for entry in value:
        if not isinstance(entry, str):
            continue
        path, entry_line = place_of(entry, view.path, line)
        if entry.startswith(WHITENOISE_PREFIX):
            if asgi:
                yield WHITENOISE.at(path, entry_line, entry=entry)
        elif view.middleware_sync_only(entry):
            yield SYNC_MIDDLEWARE.at(path, entry_line, entry=entry)


def _database(
    view: SettingsView, alias: object, config: dict[object, object], line: int, asgi: bool
) -> Iterator[Finding]:
    for key, setting in config.items():
        path, key_line = place_of(key, view.path, line)
        values = alternatives(setting)
        if key == "CONN_MAX_AGE" and asgi:
            kept = [
                v for v in values if v is None or (isinstance(v, int | float) and not isinstance(v, bool) and v > 0)
            ]
            if kept:
                shown = "None (for ever)" if kept[0] is None else f"{kept[0]}"
                if len(values) > 1:
                    shown += " (in one configuration)"
                yield CONN_MAX_AGE.at(path, key_line, alias=str(alias), shown=shown)
        elif key == "ATOMIC_REQUESTS" and any(v is True for v in values) and view.has_async_views():
            yield ATOMIC_REQUESTS.at(path, key_line, alias=str(alias))


def _channel_layers(view: SettingsView, value: object, line: int, always_off: bool) -> Iterator[Finding]:
    if not isinstance(value, dict):
        return
    for alias, config in value.items():
        if not isinstance(config, dict):
            continue
        for key, backend in config.items():
            if key == "BACKEND" and any(v == IN_MEMORY_BACKEND for v in alternatives(backend)):
                debug = "off" if always_off else "off by default (or in one configuration)"
                yield IN_MEMORY_LAYER.at(*place_of(backend, view.path, line), alias=str(alias), debug=debug)


class SourceSettings:
    """A settings module of the audited tree, read as source."""

    def __init__(self, project: Project, module: Module) -> None:
        self.project = project
        self.path = module.rel
        self.env = read_settings(project, module)

    def candidates(self, name: str) -> list[Candidate]:
        return [c for c in self.env.get(name, []) if c.value is not UNKNOWN]

    def middleware_sync_only(self, dotted: str) -> bool | None:
        found = self.project.lookup(dotted)
        if found is None:
            return None  # third-party: the running project's system check imports it and knows
        module, name = found
        if name in module.functions:
            return not _decorated_capable(module, module.functions[name].decorator_list)
        if name not in module.classes:
            return None
        cls = module.classes[name]
        for owner_module, owner in self.project.mro(module, cls):
            if _decorated_capable(owner_module, owner.decorator_list):
                return False
            for stmt in owner.body:
                if isinstance(stmt, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "async_capable" for t in stmt.targets
                ):
                    return not (isinstance(stmt.value, ast.Constant) and stmt.value.value is True)
        bases = self.project.base_names(module, cls)
        # MiddlewareMixin declares async_capable itself (it adapts each hook).
        if any(base.endswith("MiddlewareMixin") for base in bases):
            return False
        if any(base != "object" and self.project.klass(base) is None for base in bases):
            return None  # built on a class outside the tree (Django's own middleware...): the system check knows
        return True

    def is_asgi(self) -> bool:
        if self.candidates("ASGI_APPLICATION"):
            return True
        return any(_calls(m, "get_asgi_application") for m in self.project.modules)

    def has_async_views(self) -> bool:
        return any(fn.is_async and fn.takes_request() for fn in self.project.functions())


def _decorated_capable(module: Module, decorators: list[ast.expr]) -> bool:
    return any((module.qualify(d) or "").endswith(CAPABLE_DECORATORS) for d in decorators)


def _calls(module: Module, name: str) -> bool:
    return any(isinstance(n, ast.Call) and (module.qualify(n.func) or "").endswith(name) for n in ast.walk(module.tree))


@check(SYNC_MIDDLEWARE, WHITENOISE, CONN_MAX_AGE, IN_MEMORY_LAYER, ATOMIC_REQUESTS)
def source_settings(ctx: Context) -> Iterator[Finding]:
    """The settings rules over each settings module found in the tree."""
    for module in settings_modules(ctx.project):
        yield from settings_findings(SourceSettings(ctx.project, module))
