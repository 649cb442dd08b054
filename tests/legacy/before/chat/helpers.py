import json
import time
import urllib.request

from django.conf import settings

THROTTLE_SECONDS = 0.01


def throttle():
    """Spaces out reads of the answer store."""
    time.sleep(THROTTLE_SECONDS)


def notify_webhook(conversation, answer):
    """Tells ANSWER_WEBHOOK (when set) about a new answer."""
    if not settings.ANSWER_WEBHOOK:
        return
    body = json.dumps({"conversation": conversation, "answer": answer}).encode()
    req = urllib.request.Request(settings.ANSWER_WEBHOOK, data=body, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req).close()  # LR204
