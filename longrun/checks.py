"""Django system checks (tag ``async``): the audit's settings rules over the running project's settings.

They run wherever Django runs its checks (``manage.py check``, ``runserver``, ``migrate``, ...) once ``"longrun"``
is in ``INSTALLED_APPS``; ``manage.py check --tag async`` runs only them. Warnings do not stop a server; an
error (LR405) stops the commands that run checks.

The rules about serving under ASGI (persistent connections, WhiteNoise, ``MiddlewareMixin`` hooks) apply once
``ASGI_APPLICATION`` is set. Before the switch, ``LONGRUN_ASSUME_ASGI = True`` judges the settings as if it were;
without either, what those rules would find is summed up in one Info message (``longrun.I001``) rather than left
unsaid.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.deprecation import MiddlewareMixin
from django.utils.module_loading import import_string

from longrun.audit.model import Finding, Severity
from longrun.audit.settings_rules import HOOKS, NATIVE_MIXIN, settings_findings
from longrun.audit.settings_source import Candidate

LEVELS = {Severity.ERROR: checks.Error, Severity.WARNING: checks.Warning, Severity.INFO: checks.Info}
ASSUME_ASGI = "LONGRUN_ASSUME_ASGI"
HELD_BACK_ID = "longrun.I001"


class RuntimeSettings:
    """The running project's settings, seen the way the settings rules expect (a ``SettingsView``).

    ``assume_asgi`` judges them as if the project were already served under ASGI.
    """

    def __init__(self, *, assume_asgi: bool = False) -> None:
        self.path = getattr(settings, "SETTINGS_MODULE", None) or "settings"
        self.assume_asgi = assume_asgi

    def candidates(self, name: str) -> list[Candidate]:
        return [Candidate(getattr(settings, name), 0)] if hasattr(settings, name) else []

    def middleware_sync_only(self, dotted: str) -> bool | None:
        try:
            middleware = import_string(dotted)
        except ImportError:
            return None  # Django's own checks report a middleware that does not import
        # Django's handler reads the same attribute, with the same default, to decide whether to adapt it.
        return not getattr(middleware, "async_capable", False)

    def middleware_hops(self, dotted: str) -> tuple[str, ...] | None:
        try:
            middleware = import_string(dotted)
        except ImportError:
            return None
        if not (isinstance(middleware, type) and issubclass(middleware, MiddlewareMixin)):
            return None
        # By name: importing longrun.middleware imports django.contrib.auth's models, which a project may not install.
        if any(f"{k.__module__}.{k.__qualname__}" == NATIVE_MIXIN for k in middleware.__mro__):
            return ()
        hooks: list[str] = []
        for hook in HOOKS:
            method = getattr(middleware, hook, None)
            if method is None:
                continue
            if hook == "process_view":
                # The handler awaits an async process_view as it is and adapts a sync one.
                if not iscoroutinefunction(method):
                    hooks.append(hook)
            elif middleware.__acall__ is MiddlewareMixin.__acall__:
                hooks.append(hook)  # MiddlewareMixin.__acall__ runs it through sync_to_async
        return tuple(hooks)

    def is_asgi(self) -> bool:
        return self.assume_asgi or bool(getattr(settings, "ASGI_APPLICATION", None))

    def has_async_views(self) -> bool:
        try:
            return _any_async_view(get_resolver().url_patterns)
        except (ImportError, ImproperlyConfigured):
            return False  # a broken URLconf is reported by Django's own URL checks


def _any_async_view(patterns: Sequence[URLPattern | URLResolver]) -> bool:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            if _any_async_view(pattern.url_patterns):
                return True
            continue
        callback = pattern.callback
        view_class = getattr(callback, "view_class", None)
        if inspect.iscoroutinefunction(callback) or getattr(view_class, "view_is_async", False):
            return True
    return False


def as_check_message(item: Finding) -> checks.CheckMessage:
    """One finding as a Django check message: same severity, the fix as the hint, ``longrun.LRnnn`` as the id."""
    return LEVELS[item.severity](f"{item.message} ({item.rule})", hint=item.fix, id=f"longrun.{item.rule}")


def assume_asgi() -> bool:
    """Whether ``LONGRUN_ASSUME_ASGI`` asks to judge the settings as if served under ASGI already."""
    value = getattr(settings, ASSUME_ASGI, False)
    if not isinstance(value, bool):
        raise ImproperlyConfigured(f"{ASSUME_ASGI} must be True or False, not {value!r}.")
    return value


def check_async_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The ``async`` system checks: each settings finding as a check message, plus what waits for ASGI."""
    found = list(settings_findings(RuntimeSettings(assume_asgi=assume_asgi())))
    messages = [as_check_message(item) for item in found]
    held_back = _held_back(found)
    if held_back:
        messages.append(held_back)
    return messages


def _held_back(found: list[Finding]) -> checks.CheckMessage | None:
    """What the ASGI-only rules would report once ASGI_APPLICATION is set, summed up while it is not."""
    view = RuntimeSettings()
    if view.is_asgi():
        return None
    now = {(item.rule, item.path, item.line) for item in found}
    later = [
        item
        for item in settings_findings(RuntimeSettings(assume_asgi=True))
        if (item.rule, item.path, item.line) not in now
    ]
    if not later:
        return None
    rules = ", ".join(sorted({item.rule for item in later}))
    return checks.Info(
        f"ASGI_APPLICATION is not set, so {len(later)} finding(s) that apply once the project runs under ASGI "
        f"are not reported yet ({rules}).",
        hint=f"Set {ASSUME_ASGI} = True in the settings to see them before you switch, "
        "or set ASGI_APPLICATION when you do.",
        id=HELD_BACK_ID,
    )
