"""Django system checks (tag ``async``): the audit's settings rules over the running project's settings.

``manage.py check --tag async`` reports them; they also run with every ``check`` (warnings do not stop a server).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.module_loading import import_string

from longrun.audit.model import Finding, Severity
from longrun.audit.settings_rules import settings_findings
from longrun.audit.settings_source import Candidate

LEVELS = {Severity.ERROR: checks.Error, Severity.WARNING: checks.Warning, Severity.INFO: checks.Info}


class RuntimeSettings:
    """The running project's settings, seen the way the settings rules expect (a ``SettingsView``)."""

    def __init__(self) -> None:
        self.path = getattr(settings, "SETTINGS_MODULE", None) or "settings"

    def candidates(self, name: str) -> list[Candidate]:
        return [Candidate(getattr(settings, name), 0)] if hasattr(settings, name) else []

    def middleware_sync_only(self, dotted: str) -> bool | None:
        try:
            middleware = import_string(dotted)
        except ImportError:
            return None  # Django's own checks report a middleware that does not import
        # Django's handler reads the same attribute, with the same default, to decide whether to adapt it.
        return not getattr(middleware, "async_capable", False)

    def is_asgi(self) -> bool:
        return bool(getattr(settings, "ASGI_APPLICATION", None))

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


def check_async_settings(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Called by Django's check framework (registered with tag ``async`` in LongrunConfig.ready)."""
    return [as_check_message(item) for item in settings_findings(RuntimeSettings())]
