"""What both API view modules share: the request guard, JSON errors, and which server interface is serving."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from llm_app.models import Interface
from llm_app.services import rate_limit
from llm_app.services.limits import LimitExceeded
from llm_app.services.llm import UpstreamError
from llm_app.services.recording import ConversationNotFound
from llm_app.services.schemas import BadRequest, ChatRequest, parse_chat_body

ApiView = Callable[[HttpRequest, ChatRequest], HttpResponseBase]
AsyncApiView = Callable[[HttpRequest, ChatRequest], Awaitable[HttpResponseBase]]


def error_response(status: int, message: str, /, **extra: Any) -> JsonResponse:
    return JsonResponse({**extra, "error": {"status": status, "message": message}}, status=status)


def bad_request_response(exc: BadRequest) -> JsonResponse:
    return error_response(exc.status, exc.message)


def not_found_response(exc: ConversationNotFound) -> JsonResponse:
    return error_response(404, str(exc))


def upstream_error_response(exc: UpstreamError) -> JsonResponse:
    response = error_response(exc.http_status, exc.message, **exc.result.as_dict())
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    return response


def limit_response(exc: LimitExceeded) -> JsonResponse:
    """503 (the in-flight cap) or 429 (the rate limit), with ``Retry-After`` in the header and the body."""
    response = JsonResponse(
        {"error": {"status": exc.http_status, "message": exc.message, "retry_after": exc.retry_after}},
        status=exc.http_status,
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


def interface_of(request: HttpRequest) -> Interface:
    return Interface.ASGI if isinstance(request, ASGIRequest) else Interface.WSGI


def _read(request: HttpRequest) -> ChatRequest:
    if request.method != "POST":
        raise BadRequest(405, f'{request.method} is not allowed here: POST a JSON body such as {{"prompt": "Hello"}}.')
    try:
        body = request.body
    except RequestDataTooBig:
        raise BadRequest(
            413,
            f"The body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE ({settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes)."
            " Send a shorter prompt.",
        ) from None
    return parse_chat_body(content_type=request.content_type or "", body=body)


def _csrf_failure(request: HttpRequest) -> JsonResponse | None:
    # The API is csrf_exempt so that an anonymous demo POST works; with auth on, a session cookie is what
    # authenticates, so the CSRF check is back.
    rejected = CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, HttpResponse, (), {})
    if rejected is None:
        return None
    return error_response(403, "CSRF check failed: send the csrftoken cookie's value in an X-CSRFToken header.")


_LOGIN_MESSAGE = "Log in first (LLM_REQUIRE_AUTH is on): sign in at /accounts/login/ and send the session cookie."


def api_endpoint(view: ApiView | AsyncApiView) -> Callable[[HttpRequest], Any]:
    """Wraps an API view, sync or async (decided once, here): method, auth, CSRF, body, rate limit; then
    ``view(request, chat)``. A limit's refusal, there or in the view (the in-flight cap), becomes a 429 or 503."""
    if inspect.iscoroutinefunction(view):

        async def async_endpoint(request: HttpRequest) -> HttpResponseBase:
            if settings.LLM_REQUIRE_AUTH:
                user = await request.auser()
                if not user.is_authenticated:
                    return error_response(401, _LOGIN_MESSAGE)
                # The rejection renders Django's CSRF failure view, which reads a template file: not on the loop.
                if (failure := await sync_to_async(_csrf_failure)(request)) is not None:
                    return failure
            try:
                chat = _read(request)
            except BadRequest as exc:
                return bad_request_response(exc)
            try:
                await rate_limit.acheck_request(request)
                return await view(request, chat)  # type: ignore[no-any-return]
            except LimitExceeded as exc:
                return limit_response(exc)

        return csrf_exempt(functools.wraps(view)(async_endpoint))

    def sync_endpoint(request: HttpRequest) -> HttpResponseBase:
        if settings.LLM_REQUIRE_AUTH:
            if not request.user.is_authenticated:
                return error_response(401, _LOGIN_MESSAGE)
            if (failure := _csrf_failure(request)) is not None:
                return failure
        try:
            chat = _read(request)
        except BadRequest as exc:
            return bad_request_response(exc)
        try:
            rate_limit.check_request(request)
            return view(request, chat)  # type: ignore[return-value]
        except LimitExceeded as exc:
            return limit_response(exc)

    return csrf_exempt(functools.wraps(view)(sync_endpoint))
