"""A small site for the handler and middleware tests: views that touch each thing a middleware may react to."""

from __future__ import annotations

from django.contrib import messages
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.urls import get_script_prefix, path

# The connection wrappers the sync view queried through ("housekeeping": a file database Django really closes).
queried: list[object] = []


async def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("hello")


def sync_hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("hello from a thread")


def sync_query(request: HttpRequest) -> HttpResponse:
    wrapper = connections["housekeeping"]
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT 1")
    queried.append(wrapper)
    return HttpResponse("queried")


async def protected(request: HttpRequest) -> HttpResponse:
    return HttpResponse("accepted")


async def csrf_token(request: HttpRequest) -> HttpResponse:
    get_token(request)
    return HttpResponse("token set")


async def session_set(request: HttpRequest) -> HttpResponse:
    await request.session.aset("seen", True)
    return HttpResponse("session set")


async def session_read(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(await request.session.aget("seen")))


def message_add(request: HttpRequest) -> HttpResponse:
    messages.info(request, "hello")
    return HttpResponse("message added")


async def stream(request: HttpRequest) -> StreamingHttpResponse:
    async def body():
        for part in (b"a", b"b", b"c"):
            yield part

    return StreamingHttpResponse(body())


async def prefix(request: HttpRequest) -> HttpResponse:
    return HttpResponse(get_script_prefix())


async def failing(request: HttpRequest) -> HttpResponse:
    raise ValueError("a view that fails")


urlpatterns = [
    path("hello/", hello),
    path("sync/", sync_hello),
    path("query/", sync_query),
    path("protected/", protected),
    path("csrf/", csrf_token),
    path("session/set/", session_set),
    path("session/read/", session_read),
    path("message/", message_add),
    path("stream/", stream),
    path("failing/", failing),
    path("prefix/", prefix),
]
