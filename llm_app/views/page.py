"""The chat page: server-rendered, with vendored static JS (no build step, no CDN); and the site's icon."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.csrf import ensure_csrf_cookie


@ensure_csrf_cookie
def chat(request: HttpRequest) -> HttpResponse:
    """The page (GET /); the csrftoken cookie is set so that the page can POST when auth is on."""
    return render(
        request, "llm_app/chat.html", {"model": settings.LLM_MODEL, "require_auth": settings.LLM_REQUIRE_AUTH}
    )


def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``, which browsers ask for on every page that names no icon (the admin's): the static one."""
    return HttpResponsePermanentRedirect(static("llm_app/favicon.ico"))
