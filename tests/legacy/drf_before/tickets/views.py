"""The legacy support-desk API: Django REST framework views, sync, on the sync OpenAI client, under gunicorn."""
from django.conf import settings
from django.core.cache import cache
from django.http import StreamingHttpResponse
from openai import OpenAI
from rest_framework.response import Response
from rest_framework.views import APIView

from .policies import DeskAPI
from .serializers import ProfileSerializer, TicketSerializer


class ProfileView(DeskAPI, APIView):
    """The signed-in agent's profile: plain CRUD, no LLM."""

    def get(self, request):
        return Response(ProfileSerializer(request.user).data)

    def patch(self, request):
        serializer = ProfileSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data)


class SuggestReplyView(DeskAPI, APIView):
    """A drafted reply to a ticket, whole, as JSON."""

    def post(self, request):
        ticket = TicketSerializer(data=request.data)
        ticket.is_valid(raise_exception=True)
        client = OpenAI(base_url=settings.LLM_BASE_URL, api_key=settings.LLM_API_KEY)  # LR203 LR205
        reply = client.chat.completions.create(model=settings.LLM_MODEL, messages=ticket.prompt())  # LR201
        draft = reply.choices[0].message.content
        cache.set(f"draft:{request.user.pk}", {"draft": draft, "status": "complete"})
        return Response({"draft": draft, "status": "complete"})


def _pieces(upstream, user_id):
    parts = []
    for chunk in upstream:
        text = chunk.choices[0].delta.content or "" if chunk.choices else ""
        parts.append(text)
        yield text
    # Only reached when the whole draft was sent: an agent who closes the panel loses it.
    cache.set(f"draft:{user_id}", {"draft": "".join(parts), "status": "complete"})


class StreamReplyView(DeskAPI, APIView):
    """The same draft, token by token, for the agents' app to show as it is written."""

    def post(self, request):
        ticket = TicketSerializer(data=request.data)
        ticket.is_valid(raise_exception=True)
        client = OpenAI(base_url=settings.LLM_BASE_URL, api_key=settings.LLM_API_KEY)  # LR203 LR205
        upstream = client.chat.completions.create(  # LR201
            model=settings.LLM_MODEL, messages=ticket.prompt(), stream=True
        )
        return StreamingHttpResponse(_pieces(upstream, request.user.pk), content_type="text/plain")  # LR202
