"""The chat page: server-rendered, with vendored static JS (no build step, no CDN)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@ensure_csrf_cookie
def chat(request: HttpRequest) -> HttpResponse:
    """Called for GET /: the page; the csrftoken cookie is set so the page can POST when auth is on."""
    return render(
        request, "llm_app/chat.html", {"model": settings.LLM_MODEL, "require_auth": settings.LLM_REQUIRE_AUTH}
    )
