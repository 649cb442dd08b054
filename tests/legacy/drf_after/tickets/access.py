"""DRF's authentication, permission and throttle classes for a plain async Django view.

An APIView runs them in `initial()`, before its handler; a plain view has no such step. `api_access` runs the same
classes (those of `DeskAPI`) in one thread hop, as adrf does for its own views: they are sync code, and Basic
authentication queries the database and the throttle reads the cache. It returns DRF's request (with `.user` and
`.data`), or the response DRF would have sent instead: 401, 403 or 429, rendered.
"""
from asgiref.sync import sync_to_async
from rest_framework.exceptions import APIException
from rest_framework.views import APIView

from .policies import DeskAPI


class _Policies(DeskAPI, APIView):
    """Never routed: it holds the API's classes and DRF's error handling."""


def _check(request):
    view = _Policies()
    view.args, view.kwargs = (), {}
    drf_request = view.initialize_request(request)
    view.request = drf_request
    view.headers = view.default_response_headers
    try:
        view.initial(drf_request)
    except APIException as exc:
        return None, view.finalize_response(drf_request, view.handle_exception(exc)).render()
    return drf_request, None


async def api_access(request):
    """(DRF's request, None) when the classes let the request in, else (None, the response to send)."""
    return await sync_to_async(_check)(request)
