"""longrun's middleware answer every request with the headers and decisions of Django's own classes.

Each case sends the same request through two stacks, Django's classes and longrun's, both served by longrun's
handler, and compares what comes back. Cookie values that are random by design (CSRF secret, session key) are
compared by name and attributes.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import override_settings

from longrun.asgi import ASGIHandler
from longrun.hops import count_hops, no_hops
from longrun.testing import ASGIResponse, asgi_request
from tests.helpers import STARTPROJECT_MIDDLEWARE

DJANGO = STARTPROJECT_MIDDLEWARE
LONGRUN = ["longrun.middleware." + name.rsplit(".", 1)[1] for name in DJANGO]

TOKEN = "a" * 32
UNKNOWN_SESSION = "nosuchsession0000000000000000000"

# (id, settings, method, path, headers, scheme)
CASES: list[tuple[str, dict[str, Any], str, str, list[tuple[str, str]], str]] = [
    ("plain GET", {}, "GET", "/hello/", [], "http"),
    ("APPEND_SLASH redirect", {}, "GET", "/hello", [], "http"),
    ("not found", {}, "GET", "/missing/", [], "http"),
    ("SSL redirect", {"SECURE_SSL_REDIRECT": True}, "GET", "/hello/", [], "http"),
    (
        "HSTS over HTTPS",
        {"SECURE_HSTS_SECONDS": 3600, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True, "SECURE_HSTS_PRELOAD": True},
        "GET",
        "/hello/",
        [],
        "https",
    ),
    ("X-Frame-Options SAMEORIGIN", {"X_FRAME_OPTIONS": "SAMEORIGIN"}, "GET", "/hello/", [], "http"),
    (
        "disallowed user agent",
        {"DISALLOWED_USER_AGENTS": [re.compile("bot")]},
        "GET",
        "/hello/",
        [("user-agent", "a bot")],
        "http",
    ),
    ("POST without a CSRF cookie", {}, "POST", "/protected/", [], "http"),
    (
        "POST with a CSRF cookie and header",
        {},
        "POST",
        "/protected/",
        [("cookie", f"csrftoken={TOKEN}"), ("x-csrftoken", TOKEN)],
        "http",
    ),
    (
        "POST with a wrong CSRF header",
        {},
        "POST",
        "/protected/",
        [("cookie", f"csrftoken={TOKEN}"), ("x-csrftoken", "b" * 32)],
        "http",
    ),
    (
        "POST from another origin",
        {},
        "POST",
        "/protected/",
        [("cookie", f"csrftoken={TOKEN}"), ("x-csrftoken", TOKEN), ("origin", "https://evil.example")],
        "http",
    ),
    ("a view that asks for the CSRF token", {}, "GET", "/csrf/", [], "http"),
    ("CSRF in the session, POST without a token", {"CSRF_USE_SESSIONS": True}, "POST", "/protected/", [], "http"),
    ("a view that writes the session", {}, "GET", "/session/set/", [], "http"),
    (
        "a view that reads an unknown session",
        {},
        "GET",
        "/session/read/",
        [("cookie", f"sessionid={UNKNOWN_SESSION}")],
        "http",
    ),
    ("a session cookie no view touches", {}, "GET", "/hello/", [("cookie", f"sessionid={UNKNOWN_SESSION}")], "http"),
    ("a view that adds a message", {}, "GET", "/message/", [], "http"),
    ("a streaming view", {}, "GET", "/stream/", [], "http"),
]


def normalized(response: ASGIResponse) -> dict[str, Any]:
    headers: dict[str, list[str]] = {}
    for key, value in response.headers:
        name = key.decode("latin-1").lower()
        text = value.decode("latin-1")
        if name == "set-cookie":
            cookie_name, _, rest = text.partition("=")
            _value, _, attributes = rest.partition(";")
            # Expiry dates move with the clock; the random value is compared by its presence.
            attributes = re.sub(r"expires=[^;]*", "expires=<date>", attributes)
            text = f"{cookie_name}=<value>;{attributes}"
        headers.setdefault(name, []).append(text)
    body = re.sub(rb"[A-Za-z0-9]{32,64}", b"<token>", response.body)
    return {"status": response.status, "headers": {k: sorted(v) for k, v in sorted(headers.items())}, "body": body}


async def serve(
    middleware: list[str], method: str, path: str, headers: list[tuple[str, str]], scheme: str
) -> ASGIResponse:
    with override_settings(MIDDLEWARE=middleware):
        return await asgi_request(ASGIHandler(), method, path, headers=headers, scheme=scheme)


def test_each_longrun_class_is_a_subclass_of_django_s():
    from django.utils.module_loading import import_string

    for django_name, longrun_name in zip(DJANGO, LONGRUN, strict=True):
        assert issubclass(import_string(longrun_name), import_string(django_name)), longrun_name


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("overrides", "method", "path", "headers", "scheme"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_longrun_s_stack_answers_as_django_s(settings, overrides, method, path, headers, scheme):
    settings.ROOT_URLCONF = "tests.longrun.asgi_site"
    for name, value in overrides.items():
        setattr(settings, name, value)
    theirs = await serve(DJANGO, method, path, headers, scheme)
    ours = await serve(LONGRUN, method, path, headers, scheme)
    assert normalized(ours) == normalized(theirs)


# Not "/hello" (no slash): Django resolves it to a 404 first, and turns the Http404 into a response on a thread.
@pytest.mark.parametrize("path", ["/hello/", "/stream/", "/csrf/"])
async def test_a_request_that_needs_no_io_runs_every_hook_on_the_loop(settings, path):
    settings.ROOT_URLCONF = "tests.longrun.asgi_site"
    with count_hops() as hops:
        response = await serve(LONGRUN, "GET", path, [], "http")
    assert response.status == 200
    assert hops.sync_to_async == 0, hops.hops


async def test_an_accepted_csrf_post_runs_on_the_loop(settings):
    settings.ROOT_URLCONF = "tests.longrun.asgi_site"
    with no_hops():
        response = await serve(
            LONGRUN, "POST", "/protected/", [("cookie", f"csrftoken={TOKEN}"), ("x-csrftoken", TOKEN)], "http"
        )
    assert response.status == 200


async def test_django_s_stack_hops_for_each_hook_of_the_same_request(settings):
    settings.ROOT_URLCONF = "tests.longrun.asgi_site"
    with count_hops() as hops:
        await serve(DJANGO, "GET", "/hello/", [], "http")
    # process_request of 6 classes, process_response of 6, process_view of CsrfViewMiddleware.
    assert hops.sync_to_async == 13


async def test_a_rejected_csrf_post_renders_the_failure_view_on_a_thread(settings):
    settings.ROOT_URLCONF = "tests.longrun.asgi_site"
    with count_hops() as hops:
        response = await serve(LONGRUN, "POST", "/protected/", [], "http")
    assert response.status == 403
    assert any(hop.target.endswith("CsrfViewMiddleware._reject") for hop in hops.hops)


@pytest.mark.django_db(transaction=True)
async def test_a_session_that_must_be_saved_is_saved_on_a_thread(settings):
    settings.ROOT_URLCONF = "tests.longrun.asgi_site"
    with count_hops() as hops:
        response = await serve(LONGRUN, "GET", "/session/set/", [], "http")
    assert (response.header("set-cookie") or "").startswith("sessionid=")
    assert [hop.target for hop in hops.hops if "SessionMiddleware" in hop.target] == [
        "django.contrib.sessions.middleware.SessionMiddleware.process_response"
    ]


def test_under_wsgi_the_classes_keep_django_s_sync_hooks():
    from django.test import Client

    with override_settings(MIDDLEWARE=LONGRUN, ROOT_URLCONF="tests.longrun.asgi_site"):
        response = Client().get("/sync/")
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
