"""System checks (tag ``async``): the audit's settings rules over the running project's settings."""

from __future__ import annotations

import re

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils.deprecation import MiddlewareMixin

from longrun.checks import check_async_settings
from longrun.middleware import AsyncNativeMixin
from tests.helpers import STARTPROJECT_MIDDLEWARE


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


def test_conn_max_age_without_an_asgi_application_is_only_announced_as_held_back(settings, monkeypatch):
    del settings.ASGI_APPLICATION
    monkeypatch.setitem(settings.DATABASES["default"], "CONN_MAX_AGE", 60)
    messages = check_async_settings()
    assert ids(messages) == ["longrun.I001"]
    assert isinstance(messages[0], checks.Info)
    assert messages[0].msg == (
        "ASGI_APPLICATION is not set, so 1 finding(s) that apply once the project runs under ASGI are not "
        "reported yet (LR403)."
    )
    assert messages[0].hint is not None and "LONGRUN_ASSUME_ASGI = True" in messages[0].hint


def test_assume_asgi_judges_the_settings_before_the_switch(settings, monkeypatch):
    del settings.ASGI_APPLICATION
    settings.LONGRUN_ASSUME_ASGI = True
    monkeypatch.setitem(settings.DATABASES["default"], "CONN_MAX_AGE", 60)
    messages = check_async_settings()
    assert ids(messages) == ["longrun.LR403"]
    assert "CONN_MAX_AGE=60" in messages[0].msg


def test_nothing_is_announced_when_nothing_waits_for_asgi(settings):
    del settings.ASGI_APPLICATION
    assert check_async_settings() == []


def test_assume_asgi_must_be_a_boolean(settings):
    settings.LONGRUN_ASSUME_ASGI = "yes"
    with pytest.raises(ImproperlyConfigured, match="LONGRUN_ASSUME_ASGI must be True or False, not 'yes'"):
        check_async_settings()


def test_a_sync_only_middleware_is_found_by_importing_it(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.longrun.test_checks.SyncOnlyMiddleware"]
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


def hops_of(message: checks.CheckMessage) -> int:
    found = re.search(r"(\d+) thread hops? per request", message.msg)
    assert found is not None, message.msg
    return int(found.group(1))


def test_startproject_s_middleware_under_asgi_are_infos_adding_up_to_13_hops_per_request(settings):
    settings.MIDDLEWARE = STARTPROJECT_MIDDLEWARE
    messages = check_async_settings()
    assert ids(messages) == ["longrun.LR406"] * 7
    assert all(isinstance(m, checks.Info) for m in messages)
    assert sum(hops_of(m) for m in messages) == 13


def test_each_of_django_s_middleware_is_pointed_at_its_longrun_twin(settings):
    settings.MIDDLEWARE = STARTPROJECT_MIDDLEWARE
    twins = [re.search(r"Use `(longrun\.middleware\.\w+)`", m.msg) for m in check_async_settings()]
    assert [t.group(1) if t else None for t in twins] == [
        f"longrun.middleware.{dotted.rpartition('.')[2]}" for dotted in STARTPROJECT_MIDDLEWARE
    ]


class StampMiddleware(MiddlewareMixin):
    """A MiddlewareMixin class: its sync hooks hop under ASGI, its async process_view is awaited as it is."""

    def process_request(self, request: HttpRequest) -> None:
        request.stamped = True  # type: ignore[attr-defined]

    async def process_view(self, request: HttpRequest, view: object, args: object, kwargs: object) -> None:
        return None


class NativeStampMiddleware(AsyncNativeMixin, StampMiddleware):
    """The same hooks, run on the event loop."""


def test_a_mixin_class_is_found_by_importing_it_with_only_its_sync_hooks(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.longrun.test_checks.StampMiddleware"]
    messages = check_async_settings()
    assert ids(messages) == ["longrun.LR406"]
    assert "runs process_request through sync_to_async" in messages[0].msg


def test_a_mixin_class_made_async_native_is_not_reported(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.longrun.test_checks.NativeStampMiddleware"]
    assert check_async_settings() == []


def test_django_s_middleware_without_an_asgi_application_wait_in_the_held_back_info(settings):
    del settings.ASGI_APPLICATION
    settings.MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
    messages = check_async_settings()
    assert ids(messages) == ["longrun.I001"]
    assert "1 finding(s)" in messages[0].msg and "(LR406)" in messages[0].msg
