"""The "after": async views on the async OpenAI client. Diff this file with sync.py: that is the migration.

Under ASGI these hold no thread while they wait on the LLM, and a client that goes away cancels the view (or
the stream), which closes the upstream request and saves the partial answer.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase

from llm_app.models import CallPath
from llm_app.services import llm
from llm_app.services.recording import ConversationNotFound
from llm_app.services.schemas import ChatRequest
from llm_app.streaming import asse_events, sse_response
from llm_app.views.api import api_endpoint, interface_of, not_found_response, upstream_error_response


@api_endpoint
async def complete(request: HttpRequest, chat: ChatRequest) -> HttpResponseBase:
    try:
        result = await llm.acomplete(request=chat, path=CallPath.ASYNC, interface=interface_of(request))
    except ConversationNotFound as exc:
        return not_found_response(exc)
    except llm.UpstreamError as exc:
        return upstream_error_response(exc)
    return JsonResponse(result.as_dict())


@api_endpoint
async def stream(request: HttpRequest, chat: ChatRequest) -> HttpResponseBase:
    try:
        generation = await llm.astream(request=chat, path=CallPath.ASYNC, interface=interface_of(request))
    except ConversationNotFound as exc:
        return not_found_response(exc)
    return sse_response(asse_events(generation))
