"""The legacy chat views: sync, on the sync OpenAI client, under gunicorn sync workers."""
import json

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse, StreamingHttpResponse
from openai import OpenAI

from .helpers import notify_webhook, throttle


def _read(body):
    data = json.loads(body)
    return data["prompt"], str(data.get("conversation", "default"))


def complete(request):
    prompt, conversation = _read(request.body)
    client = OpenAI(base_url=settings.LLM_BASE_URL, api_key=settings.LLM_API_KEY)  # LR203 LR205
    reply = client.chat.completions.create(  # LR201
        model=settings.LLM_MODEL, messages=[{"role": "user", "content": prompt}]
    )
    answer = reply.choices[0].message.content
    cache.set(f"answer:{conversation}", {"content": answer, "status": "complete"})
    notify_webhook(conversation, answer)
    return JsonResponse({"content": answer, "status": "complete"})


def _tokens(upstream, conversation):
    parts = []
    for chunk in upstream:
        text = chunk.choices[0].delta.content or "" if chunk.choices else ""
        parts.append(text)
        yield text
    # Only reached when the whole answer was sent: a client that leaves loses the answer.
    cache.set(f"answer:{conversation}", {"content": "".join(parts), "status": "complete"})


def stream(request):
    prompt, conversation = _read(request.body)
    client = OpenAI(base_url=settings.LLM_BASE_URL, api_key=settings.LLM_API_KEY)  # LR203 LR205
    upstream = client.chat.completions.create(  # LR201
        model=settings.LLM_MODEL, messages=[{"role": "user", "content": prompt}], stream=True
    )
    return StreamingHttpResponse(_tokens(upstream, conversation), content_type="text/plain")  # LR202


async def last_answer(request):
    """An early attempt at an async view."""
    throttle()  # LR102
    saved = cache.get(f"answer:{request.GET.get('conversation', 'default')}")
    return JsonResponse(saved or {"content": "", "status": "none"})
