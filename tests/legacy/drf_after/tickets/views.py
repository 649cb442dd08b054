"""The support-desk API, migrated: the CRUD view stays on DRF's sync APIView; the two LLM endpoints are async, one
on adrf's APIView (DRF's classes, serializer and Response as before), the stream as a plain async Django view."""
import asyncio
import functools

from adrf.views import APIView as AsyncAPIView
from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse, StreamingHttpResponse
from openai import AsyncOpenAI
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from .access import api_access
from .policies import DeskAPI
from .serializers import ProfileSerializer, TicketSerializer


@functools.cache
def llm_client():
    """One client, and so one connection pool, per process (per event loop: ASGI servers run one)."""
    return AsyncOpenAI(base_url=settings.LLM_BASE_URL, api_key=settings.LLM_API_KEY, timeout=settings.LLM_TIMEOUT)


class ProfileView(DeskAPI, APIView):
    """Unchanged, and sync on purpose: CRUD holds a thread for milliseconds, not for an LLM call."""

    def get(self, request):
        return Response(ProfileSerializer(request.user).data)

    def patch(self, request):
        serializer = ProfileSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)


class SuggestReplyView(DeskAPI, AsyncAPIView):
    """adrf: DRF's authentication, permission and throttle classes run in one thread hop, then `post` on the loop."""

    async def post(self, request):
        ticket = TicketSerializer(data=request.data)
        ticket.is_valid(raise_exception=True)
        reply = await llm_client().chat.completions.create(model=settings.LLM_MODEL, messages=ticket.prompt())
        draft = reply.choices[0].message.content
        # request.user was resolved by the authentication classes, in the thread: reading it here is free.
        await cache.aset(f"draft:{request.user.pk}", {"draft": draft, "status": "complete"})
        return Response({"draft": draft, "status": "complete"})


async def draft_pieces(upstream, user_id):
    parts = []
    status = "complete"
    try:
        async for chunk in upstream:
            text = chunk.choices[0].delta.content or "" if chunk.choices else ""
            parts.append(text)
            yield text
    except (asyncio.CancelledError, GeneratorExit):
        status = "cancelled"  # the agent closed the panel: keep what was written, let the cancellation go on
        raise
    except Exception:
        status = "error"
        raise
    finally:
        await upstream.close()  # tells the LLM server to stop generating (and billing)
        await asyncio.shield(cache.aset(f"draft:{user_id}", {"draft": "".join(parts), "status": status}))


async def stream_reply(request):
    """A plain async view: Django streams the async generator as it yields; DRF's classes run in api_access."""
    if request.method != "POST":
        return JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
    api_request, denied = await api_access(request)
    if denied is not None:
        return denied
    try:
        ticket = TicketSerializer(data=api_request.data)
    except ParseError as exc:
        return JsonResponse({"detail": str(exc.detail)}, status=400)
    if not ticket.is_valid():
        return JsonResponse(ticket.errors, status=400)
    upstream = await llm_client().chat.completions.create(
        model=settings.LLM_MODEL, messages=ticket.prompt(), stream=True
    )
    response = StreamingHttpResponse(draft_pieces(upstream, api_request.user.pk), content_type="text/plain")
    response["X-Accel-Buffering"] = "no"  # nginx would otherwise buffer the stream
    return response


# APIView.as_view() exempts DRF's views from CSRF (API clients send none); the decorator does the same, but on
# Django 4.2 it wraps an async view in a sync function, which Django would then run in a thread.
stream_reply.csrf_exempt = True
