import asyncio
import json
import urllib.request

from django.conf import settings

THROTTLE_SECONDS = 0.01


async def athrottle():
    """Spaces out reads of the answer store, without stopping the event loop."""
    await asyncio.sleep(THROTTLE_SECONDS)


def notify_webhook(conversation, answer):
    """Tells ANSWER_WEBHOOK (when set) about a new answer. Sync code: async callers use anotify_webhook."""
    if not settings.ANSWER_WEBHOOK:
        return
    body = json.dumps({"conversation": conversation, "answer": answer}).encode()
    req = urllib.request.Request(settings.ANSWER_WEBHOOK, data=body, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).close()


async def anotify_webhook(conversation, answer):
    """The async twin: the sync call runs in a worker thread, off the event loop."""
    await asyncio.to_thread(notify_webhook, conversation, answer)
