"""Figures from several server processes: another process's snapshot reaches the dashboard through Redis.

Needs Redis on 127.0.0.1:6379 (bash .ci/run starts it): skipped locally when it is down, failed in CI.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import AsyncClient

from llm_app.dashboard.publisher import publisher
from llm_app.dashboard.tracker import tracker
from project.asgi import application

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]
REDIS_URL = os.environ.get("LONGRUN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Another process, as a gunicorn worker would be: one sync call in flight, one snapshot published.
OTHER_PROCESS = """
import json, sys
import django
django.setup()
from django.conf import settings
settings.CHANNEL_LAYERS = json.loads(sys.argv[1])
from llm_app.dashboard.publisher import publisher
from llm_app.dashboard.tracker import tracker
tracker.call_started(1, path="sync", interface="wsgi", model="m")
publisher.publish()
"""


@pytest.fixture
def redis_layer(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with socket.socket() as sock:
        sock.settimeout(1)
        if sock.connect_ex(("127.0.0.1", 6379)) != 0:
            message = (
                "Redis is not reachable on 127.0.0.1:6379. Start it: bash .ci/run, or redis-server --daemonize yes"
            )
            pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    # A prefix of this test's own: other test runs on the same Redis publish to the same group name.
    layers = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"longrun-test-{uuid.uuid4().hex[:8]}"},
        }
    }
    settings.CHANNEL_LAYERS = layers
    # No idle publish from the publisher's own loop meanwhile: a Redis connection made there would outlive the test.
    monkeypatch.setattr(publisher, "idle_interval_s", math.inf)
    tracker.reset()
    yield layers
    tracker.reset()


def publish_from_another_process(layers: dict[str, Any]) -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings_test"}
    subprocess.run([sys.executable, "-c", OTHER_PROCESS, json.dumps(layers)], cwd=ROOT, env=env, check=True)


async def test_a_call_in_another_process_shows_in_the_merged_figures(redis_layer):
    staff = await User.objects.acreate_user("staff", password="x", is_staff=True)
    client = AsyncClient()
    await client.aforce_login(staff)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application, "/ws/admin/dashboard/", headers=[(b"origin", b"http://127.0.0.1:8000"), (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect()
    assert connected
    await asyncio.to_thread(publish_from_another_process, redis_layer)
    while True:
        message = await communicator.receive_json_from(timeout=10)
        figures = message.get("figures")
        if figures and len(figures["processes"]) == 2 and figures["in_flight"]["sync"] == 1:
            break
    assert {p["interface"] for p in figures["processes"]} == {"asgi", "wsgi"}
    await communicator.disconnect()
