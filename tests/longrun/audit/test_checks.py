"""System checks (tag ``async``): the audit's settings rules over the running project's settings."""

from __future__ import annotations

import pytest
from django.core import checks

from longrun.checks import check_async_settings


@pytest.fixture(autouse=True)
def debug_on(settings):
    """pytest-django runs tests with DEBUG off, which alone (with the in-memory layer) is a finding."""
    settings.DEBUG = True


def ids(messages: list[checks.CheckMessage]) -> list[str | None]:
    return [m.id for m in messages]


def test_the_checks_are_registered_under_the_async_tag():
    assert check_async_settings in checks.registry.registry.get_checks(include_deployment_checks=False)
    assert "async" in checks.registry.registry.tags_available()


def test_the_project_settings_pass():
    assert check_async_settings() == []


def test_conn_max_age_with_an_asgi_application_is_a_warning(settings, monkeypatch):
    settings.ASGI_APPLICATION = "project.asgi.application"
    # Set inside the dict (restored after the test): replacing DATABASES itself makes Django warn.
    monkeypatch.setitem(settings.DATABASES["default"], "CONN_MAX_AGE", 60)
    messages = check_async_settings()
    assert ids(messages) == ["longrun.LR403"]
    assert isinstance(messages[0], checks.Warning) and "LR403" in messages[0].msg


def test_conn_max_age_without_an_asgi_application_passes(settings, monkeypatch):
    del settings.ASGI_APPLICATION
    monkeypatch.setitem(settings.DATABASES["default"], "CONN_MAX_AGE", 60)
    assert check_async_settings() == []


def test_a_sync_only_middleware_is_found_by_importing_it(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.longrun.audit.test_checks.SyncOnlyMiddleware"]
    assert ids(check_async_settings()) == ["longrun.LR401"]


def test_the_in_memory_layer_with_debug_off_is_a_warning(settings):
    settings.DEBUG = False
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert ids(check_async_settings()) == ["longrun.LR404"]


def test_atomic_requests_with_the_projects_async_views_is_an_error(monkeypatch, settings):
    monkeypatch.setitem(settings.DATABASES["default"], "ATOMIC_REQUESTS", True)
    messages = check_async_settings()
    assert ids(messages) == ["longrun.LR405"] and isinstance(messages[0], checks.Error)


class SyncOnlyMiddleware:
    """A new-style middleware that declares nothing: Django treats it as sync-only."""

    def __init__(self, get_response: object) -> None:
        self.get_response = get_response


def test_a_urlconf_that_does_not_import_leaves_atomic_requests_alone(monkeypatch, settings):
    monkeypatch.setitem(settings.DATABASES["default"], "ATOMIC_REQUESTS", True)
    settings.ROOT_URLCONF = "tests.longrun.audit.no_such_urls"
    assert check_async_settings() == []
