"""The "before": plain sync views on the sync OpenAI client. Kept on purpose; diff this file with async_.py.

Under a WSGI worker pool each of these holds a worker for the whole LLM call. Under ASGI Django runs them in a
thread per request. A client that goes away stops a stream a token later (see ``stream``), but never a
``complete``: the thread runs the whole LLM call, and only its reply is lost.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase

from llm_app.models import CallPath
from llm_app.services import llm
from llm_app.services.recording import ConversationNotFound
from llm_app.services.schemas import ChatRequest
from llm_app.streaming import sse_events, sse_response
from llm_app.views.api import api_endpoint, interface_of, not_found_response, upstream_error_response
from longrun.bridges import streaming_content_for


@api_endpoint
def complete(request: HttpRequest, chat: ChatRequest) -> HttpResponseBase:
    try:
        # The audit's LR201 is the lesson here: this call holds a worker for the whole LLM wait.
        result = llm.complete(request=chat, path=CallPath.SYNC, interface=interface_of(request))  # noqa: LR201
    except ConversationNotFound as exc:
        return not_found_response(exc)
    except llm.UpstreamError as exc:
        return upstream_error_response(exc)
    return JsonResponse(result.as_dict())


@api_endpoint
def stream(request: HttpRequest, chat: ChatRequest) -> HttpResponseBase:
    try:
        # Starting the generation sends the LLM request from this thread (LR201, as in `complete` above).
        generation = llm.stream(request=chat, path=CallPath.SYNC, interface=interface_of(request))  # noqa: LR201
    except ConversationNotFound as exc:
        return not_found_response(exc)
    # Under ASGI Django would read a sync iterator into a list before sending a byte; the bridge hands it over
    # one chunk at a time instead, each next() on this request's thread. Under WSGI it is left as it is.
    return sse_response(streaming_content_for(request, sse_events(generation)))
