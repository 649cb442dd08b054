"""The chat views, migrated: async, on one AsyncOpenAI client per process, served by an ASGI server."""
import asyncio
import functools
import json

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse, StreamingHttpResponse
from openai import AsyncOpenAI

from .helpers import anotify_webhook, athrottle


@functools.cache
def llm_client():
    """One client, and so one connection pool, per process (per event loop: ASGI servers run one)."""
    return AsyncOpenAI(base_url=settings.LLM_BASE_URL, api_key=settings.LLM_API_KEY, timeout=settings.LLM_TIMEOUT)


def _read(body):
    data = json.loads(body)
    return data["prompt"], str(data.get("conversation", "default"))


async def complete(request):
    prompt, conversation = _read(request.body)
    reply = await llm_client().chat.completions.create(
        model=settings.LLM_MODEL, messages=[{"role": "user", "content": prompt}]
    )
    answer = reply.choices[0].message.content
    await cache.aset(f"answer:{conversation}", {"content": answer, "status": "complete"})
    await anotify_webhook(conversation, answer)
    return JsonResponse({"content": answer, "status": "complete"})


async def answer_tokens(upstream, conversation):
    parts = []
    status = "complete"
    try:
        async for chunk in upstream:
            text = chunk.choices[0].delta.content or "" if chunk.choices else ""
            parts.append(text)
            yield text
    except (asyncio.CancelledError, GeneratorExit):
        # The client went away: Django cancels this stream. Keep what was said, then let the cancellation go on.
        status = "cancelled"
        raise
    except Exception:
        status = "error"  # the upstream failed mid-answer: the partial text is kept, marked as such
        raise
    finally:
        await upstream.close()  # tells the LLM server to stop generating (and billing)
        # Shielded: a second cancellation must not lose the partial answer.
        await asyncio.shield(cache.aset(f"answer:{conversation}", {"content": "".join(parts), "status": status}))


async def stream(request):
    prompt, conversation = _read(request.body)
    upstream = await llm_client().chat.completions.create(
        model=settings.LLM_MODEL, messages=[{"role": "user", "content": prompt}], stream=True
    )
    response = StreamingHttpResponse(answer_tokens(upstream, conversation), content_type="text/plain")
    response["X-Accel-Buffering"] = "no"  # nginx would otherwise buffer the stream
    return response


async def last_answer(request):
    await athrottle()
    saved = await cache.aget(f"answer:{request.GET.get('conversation', 'default')}")
    return JsonResponse(saved or {"content": "", "status": "none"})
