"""Django's own middleware, async-native: the same classes and decisions, without a thread hop per request.

Django's built-in middleware are ``MiddlewareMixin`` classes. Under ASGI, ``MiddlewareMixin.__acall__`` runs each
``process_request`` and ``process_response`` through ``sync_to_async``, and the handler wraps each sync
``process_view`` the same way: with Django's default stack that is seven to eight hops per request, and the first
one starts the request's own thread. Yet most of these hooks only read headers and set headers: pure
computation that can run on the event loop.

Each class here subclasses Django's and keeps all of its code: under WSGI it is Django's class unchanged, and
under ASGI it calls the very same hooks, on the event loop when the hook can do no I/O for this request, and
on the request's thread (Django's hop) when it might. So the headers and decisions are Django's by
construction, and the only difference is where a hook runs:

========================= ============================================================================
class                     runs on a thread (as Django) only when
========================= ============================================================================
SecurityMiddleware        never: it reads settings and headers
CommonMiddleware          never: settings, headers and URL resolving
XFrameOptionsMiddleware   never
AuthenticationMiddleware  never: ``request.user`` stays lazy (touching it in an async view is your hop)
SessionMiddleware         the session must be saved (modified, or ``SESSION_SAVE_EVERY_REQUEST``)
MessageMiddleware         messages were read or added (storing them may load the session)
CsrfViewMiddleware        the check would read a body that may be on disk or a multipart upload, the token
                          lives in a session not loaded yet (``CSRF_USE_SESSIONS``), or the request is
                          rejected (the failure view renders a template)
========================= ============================================================================

Use them in ``MIDDLEWARE`` in place of Django's, same order::

    "longrun.middleware.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",  # -> "longrun.middleware.SessionMiddleware"
    ...

Tests compare each with Django's class request by request (``tests/longrun/test_middleware.py``), and
``longrun.hops.no_hops()`` shows what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages_middleware
from django.contrib.sessions import middleware as sessions_middleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware import clickjacking, common, csrf, security

ViewCallback = Callable[..., Any]


class AsyncNativeMixin:
    """Runs a ``MiddlewareMixin`` class's hooks on the event loop under ASGI, except where a predicate says no.

    Put it before the ``MiddlewareMixin`` class in the bases. Override ``request_on_loop``, ``response_on_loop``
    and ``view_on_loop`` for hooks that may do I/O for some requests; a hook whose predicate says no runs
    through ``sync_to_async`` on the request's thread, as ``MiddlewareMixin`` runs every hook. Whether the
    middleware is sync or async is decided once, when it is built (by the handler, from ``get_response``).
    """

    async_mode: bool
    get_response: Callable[[HttpRequest], Any]

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        super().__init__(get_response)  # type: ignore[call-arg]
        # Newer Djangos' MiddlewareMixin sets async_mode; on Django 4.2 the same decision is made from get_response.
        async_mode = getattr(self, "async_mode", None)
        if async_mode is None:
            async_mode = self.async_mode = iscoroutinefunction(get_response)
        if async_mode and hasattr(self, "process_view"):
            # The handler adapts process_view by its kind: an async one is awaited as it is, a sync one hops.
            # Under WSGI the class's own sync process_view stays.
            setattr(self, "process_view", self._aprocess_view)  # noqa: B010

    def request_on_loop(self, request: HttpRequest) -> bool:
        """Whether ``process_request`` can run on the event loop for ``request`` (it does no I/O then)."""
        return True

    def response_on_loop(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        """Whether ``process_response`` can run on the event loop for this request and response."""
        return True

    def view_on_loop(self, request: HttpRequest, callback: ViewCallback) -> bool:
        """Whether ``process_view`` can run on the event loop for this request and view."""
        return True

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        """``MiddlewareMixin.__acall__`` with each hook run inline when its predicate allows it."""
        response = None
        process_request = getattr(self, "process_request", None)
        if process_request is not None:
            if self.request_on_loop(request):
                response = process_request(request)
            else:
                response = await sync_to_async(process_request, thread_sensitive=True)(request)
        response = response or await self.get_response(request)
        process_response = getattr(self, "process_response", None)
        if process_response is not None:
            if self.response_on_loop(request, response):
                response = process_response(request, response)
            else:
                response = await sync_to_async(process_response, thread_sensitive=True)(request, response)
        return response  # type: ignore[no-any-return]

    async def _aprocess_view(
        self, request: HttpRequest, callback: ViewCallback, callback_args: Any, callback_kwargs: Any
    ) -> Any:
        # The class's own (sync) process_view: the instance attribute is this method.
        process_view: Callable[..., Any] = getattr(type(self), "process_view")  # noqa: B009
        if self.view_on_loop(request, callback):
            return process_view(self, request, callback, callback_args, callback_kwargs)
        return await sync_to_async(process_view, thread_sensitive=True)(
            self, request, callback, callback_args, callback_kwargs
        )


class SecurityMiddleware(AsyncNativeMixin, security.SecurityMiddleware):
    """Django's ``SecurityMiddleware``; every hook runs on the event loop under ASGI."""


class CommonMiddleware(AsyncNativeMixin, common.CommonMiddleware):
    """Django's ``CommonMiddleware``; every hook runs on the event loop under ASGI."""


class XFrameOptionsMiddleware(AsyncNativeMixin, clickjacking.XFrameOptionsMiddleware):
    """Django's ``XFrameOptionsMiddleware``; its hook runs on the event loop under ASGI."""


class AuthenticationMiddleware(AsyncNativeMixin, auth_middleware.AuthenticationMiddleware):
    """Django's ``AuthenticationMiddleware``: it only attaches the lazy ``request.user`` and ``request.auser``."""


def _session_loaded(request: HttpRequest) -> bool:
    session = getattr(request, "session", None)
    return session is not None and hasattr(session, "_session_cache")


class SessionMiddleware(AsyncNativeMixin, sessions_middleware.SessionMiddleware):
    """Django's ``SessionMiddleware``; the response hook runs on a thread only when the session is saved."""

    def response_on_loop(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        session = getattr(request, "session", None)
        if session is None:
            return True
        # Mirrors process_response: a save (and the expiry it reads) happens only in this case.
        saves = session.modified or settings.SESSION_SAVE_EVERY_REQUEST
        return not saves or bool(session.is_empty())


class MessageMiddleware(AsyncNativeMixin, messages_middleware.MessageMiddleware):
    """Django's ``MessageMiddleware``; the response hook runs on a thread only when messages were used or added."""

    def response_on_loop(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        storage = getattr(request, "_messages", None)
        # BaseStorage.update() stores only in these two cases, and storing may load the session.
        return storage is None or not (storage.used or storage.added_new)


class _DeferredRejection:
    """What ``_reject`` returns while deciding on the event loop: the failure view renders on a thread."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class CsrfViewMiddleware(AsyncNativeMixin, csrf.CsrfViewMiddleware):
    """Django's ``CsrfViewMiddleware``: the check runs on the event loop unless it needs I/O (see the module)."""

    def _token_needs_io(self, request: HttpRequest) -> bool:
        return bool(settings.CSRF_USE_SESSIONS) and not _session_loaded(request)

    def request_on_loop(self, request: HttpRequest) -> bool:
        return not self._token_needs_io(request)

    def response_on_loop(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return not (request.META.get("CSRF_COOKIE_NEEDS_UPDATE") and self._token_needs_io(request))

    def view_on_loop(self, request: HttpRequest, callback: ViewCallback) -> bool:
        if self._token_needs_io(request):
            return False
        # The token check reads request.POST: a multipart upload or a body spooled to disk is file I/O.
        if request.method == "POST" and not getattr(callback, "csrf_exempt", False):
            if request.content_type == "multipart/form-data":
                return False
            length = int(request.META.get("CONTENT_LENGTH") or 0)
            if length > settings.FILE_UPLOAD_MAX_MEMORY_SIZE:
                return False
        return True

    def _reject(self, request: HttpRequest, reason: str) -> Any:
        if self.async_mode:
            return _DeferredRejection(reason)
        return csrf.CsrfViewMiddleware._reject(self, request, reason)  # type: ignore[attr-defined]

    async def _aprocess_view(
        self, request: HttpRequest, callback: ViewCallback, callback_args: Any, callback_kwargs: Any
    ) -> Any:
        result = await super()._aprocess_view(request, callback, callback_args, callback_kwargs)
        if isinstance(result, _DeferredRejection):
            reject = csrf.CsrfViewMiddleware._reject  # type: ignore[attr-defined]
            return await sync_to_async(reject, thread_sensitive=True)(self, request, result.reason)
        return result
