"""Settings rules: middleware, static files, database connections, channel layers and transactions under ASGI.

The same rules run on a settings module read as source (the audit) and on the running project's settings (the
system checks, ``longrun.checks``): both hand them a ``SettingsView``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Protocol

from longrun.audit.analysis.context import Context
from longrun.audit.analysis.project import FuncNode, Module, Project
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
# Info, not a warning: Django's own middleware are correct under ASGI and nearly every project lists them; what
# they cost is capacity (a hop per hook per request), which longrun's twins remove. It should not fail an audit.
MIXIN_HOOKS = rule(
    "LR406",
    Severity.INFO,
    "MiddlewareMixin hooks in MIDDLEWARE, Django's own middleware included: a thread hop per hook per request",
    message="`{entry}` runs {hooks} through sync_to_async under ASGI: {hops} per request, 58 us of CPU each (a "
    "request's first hop also starts its thread: 284 us). {advice}.",
    fix="Use longrun.middleware's async-native twins of Django's classes (SecurityMiddleware, SessionMiddleware, "
    "CommonMiddleware, CsrfViewMiddleware, AuthenticationMiddleware, MessageMiddleware, XFrameOptionsMiddleware: the "
    "same hooks, run on the event loop when they can do no I/O); for another MiddlewareMixin class, put "
    "`longrun.middleware.AsyncNativeMixin` first in its bases when its hooks do no I/O, or write it async-native. "
    "An info: these middleware work under ASGI, they cost capacity (Django's default stack: 13 hops per request).",
)

WHITENOISE_PREFIX = "whitenoise."
IN_MEMORY_BACKEND = "channels.layers.InMemoryChannelLayer"
CAPABLE_DECORATORS = ("sync_and_async_middleware", "async_only_middleware")
NATIVE_MIXIN = "longrun.middleware.AsyncNativeMixin"
REQUEST, VIEW, RESPONSE = "process_request", "process_view", "process_response"
# The hooks MiddlewareMixin (request, response) and the handler (view) run through sync_to_async under ASGI.
HOOKS = (REQUEST, VIEW, RESPONSE)
# Django's MiddlewareMixin classes and their hooks, the same from Django 4.2 to 6.x. RemoteUserMiddleware is left
# out: async-native since Django 5.2, a MiddlewareMixin before; the system check, which imports it, knows which.
DJANGO_MIXIN_MIDDLEWARE: dict[str, tuple[str, ...]] = {
    "django.middleware.security.SecurityMiddleware": (REQUEST, RESPONSE),
    "django.contrib.sessions.middleware.SessionMiddleware": (REQUEST, RESPONSE),
    "django.middleware.common.CommonMiddleware": (REQUEST, RESPONSE),
    "django.middleware.common.BrokenLinkEmailsMiddleware": (RESPONSE,),
    "django.middleware.csrf.CsrfViewMiddleware": (REQUEST, VIEW, RESPONSE),
    "django.contrib.auth.middleware.AuthenticationMiddleware": (REQUEST,),
    "django.contrib.auth.middleware.LoginRequiredMiddleware": (VIEW,),
    "django.contrib.messages.middleware.MessageMiddleware": (REQUEST, RESPONSE),
    "django.middleware.clickjacking.XFrameOptionsMiddleware": (RESPONSE,),
    "django.middleware.locale.LocaleMiddleware": (REQUEST, RESPONSE),
    "django.middleware.gzip.GZipMiddleware": (RESPONSE,),
    "django.middleware.http.ConditionalGetMiddleware": (RESPONSE,),
    "django.middleware.csp.ContentSecurityPolicyMiddleware": (REQUEST, RESPONSE),
    "django.middleware.cache.UpdateCacheMiddleware": (RESPONSE,),
    "django.middleware.cache.FetchFromCacheMiddleware": (REQUEST,),
    "django.middleware.cache.CacheMiddleware": (REQUEST, RESPONSE),
    "django.contrib.sites.middleware.CurrentSiteMiddleware": (REQUEST,),
    "django.contrib.flatpages.middleware.FlatpageFallbackMiddleware": (RESPONSE,),
    "django.contrib.redirects.middleware.RedirectFallbackMiddleware": (RESPONSE,),
    "django.contrib.admindocs.middleware.XViewMiddleware": (VIEW,),
}
# The Django classes longrun.middleware has an async-native twin of (same name).
TWINNED = frozenset(
    name
    for name in DJANGO_MIXIN_MIDDLEWARE
    if name.rpartition(".")[2]
    in {
        "SecurityMiddleware",
        "SessionMiddleware",
        "CommonMiddleware",
        "CsrfViewMiddleware",
        "AuthenticationMiddleware",
        "MessageMiddleware",
        "XFrameOptionsMiddleware",
    }
)


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

    def middleware_hops(self, dotted: str) -> tuple[str, ...] | None:
        """The hooks of a ``MiddlewareMixin`` class that run through ``sync_to_async`` under ASGI, in the order
        ``HOOKS`` gives; empty when none does, None when it is no such class or that is unknown."""
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
        elif asgi:
            hooks = view.middleware_hops(entry)
            if hooks:
                yield MIXIN_HOOKS.at(
                    path,
                    entry_line,
                    entry=entry,
                    hooks=" and ".join(hooks) if len(hooks) < 3 else f"{hooks[0]}, {hooks[1]} and {hooks[2]}",
                    hops=f"{len(hooks)} thread hop{'s' if len(hooks) > 1 else ''}",
                    advice=_hops_advice(entry),
                )


def _hops_advice(entry: str) -> str:
    if entry in TWINNED:
        return f"Use `longrun.middleware.{entry.rpartition('.')[2]}`, its async-native twin"
    return (
        "If its hooks do no I/O, put `longrun.middleware.AsyncNativeMixin` first in its bases (a subclass, for a "
        "class not yours) to run them on the event loop; else write it async-native"
    )


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

    def middleware_hops(self, dotted: str) -> tuple[str, ...] | None:
        if dotted in DJANGO_MIXIN_MIDDLEWARE:
            return DJANGO_MIXIN_MIDDLEWARE[dotted]
        found = self.project.klass(dotted)
        if found is None:
            return None  # a function, or third-party: the running project's system check imports it and knows
        hooks: set[str] = set()
        mixin = False
        for owner_module, owner in self.project.mro(*found):
            bases = {q for base in owner.bases if (q := owner_module.qualify(base))}
            if NATIVE_MIXIN in bases or any(isinstance(s, FuncNode) and s.name == "__acall__" for s in owner.body):
                return ()  # async-native: its own __acall__ (AsyncNativeMixin's, or the class's) runs the hooks
            for base in bases:
                if base.endswith("MiddlewareMixin"):
                    mixin = True
                elif base in DJANGO_MIXIN_MIDDLEWARE:
                    mixin = True
                    hooks.update(DJANGO_MIXIN_MIDDLEWARE[base])
            # An async process_view is awaited as it is; a sync hook is adapted.
            hooks.update(s.name for s in owner.body if isinstance(s, ast.FunctionDef) and s.name in HOOKS)
        if not mixin:
            return None  # not built on MiddlewareMixin, or on a class the source cannot see
        return tuple(hook for hook in HOOKS if hook in hooks)


def _decorated_capable(module: Module, decorators: list[ast.expr]) -> bool:
    return any((module.qualify(d) or "").endswith(CAPABLE_DECORATORS) for d in decorators)


def _calls(module: Module, name: str) -> bool:
    return any(isinstance(n, ast.Call) and (module.qualify(n.func) or "").endswith(name) for n in ast.walk(module.tree))


@check(SYNC_MIDDLEWARE, WHITENOISE, CONN_MAX_AGE, IN_MEMORY_LAYER, ATOMIC_REQUESTS, MIXIN_HOOKS)
def source_settings(ctx: Context) -> Iterator[Finding]:
    """The settings rules over each settings module found in the tree."""
    for module in settings_modules(ctx.project):
        yield from settings_findings(SourceSettings(ctx.project, module))
