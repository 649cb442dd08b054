"""The live update through the channel layer: the dashboard socket as staff, and who it refuses."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import AsyncClient

from llm_app.dashboard.consumers import CLOSE_FORBIDDEN
from llm_app.dashboard.tracker import tracker
from llm_app.services import signals
from llm_app.services.recording import CallRecord
from project.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/ws/admin/dashboard/"
ORIGIN = (b"origin", b"http://127.0.0.1:8000")
# Call ids far from the database's, so the synthetic calls below never meet a real one.
CALL_IDS = itertools.count(10_000_000)


@pytest.fixture(autouse=True)
def fresh_figures(settings: Any) -> Iterator[None]:
    """A channel layer of the test's own and no calls left over from other tests."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    tracker.reset()
    yield
    tracker.reset()


async def socket_for(user: User | None) -> WebsocketCommunicator:
    """A communicator through the whole ASGI application, carrying ``user``'s session cookie when given."""
    headers = [ORIGIN]
    if user is not None:
        client = AsyncClient()
        await client.aforce_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application, URL, headers=headers)


async def figures_until(communicator: WebsocketCommunicator, condition: Any) -> dict[str, Any]:
    """Reads figure messages until one satisfies ``condition``; returns it."""
    while True:
        message = await communicator.receive_json_from(timeout=10)
        if message["type"] == "figures" and condition(message["figures"]):
            return message["figures"]  # type: ignore[no-any-return]


async def test_staff_see_a_call_enter_and_leave_the_in_flight_figure():
    staff = await User.objects.acreate_user("staff", password="x", is_staff=True)
    communicator = await socket_for(staff)
    connected, _ = await communicator.connect()
    assert connected
    await figures_until(communicator, lambda f: f["in_flight"]["total"] == 0)
    call_id = next(CALL_IDS)
    signals.call_started.send(sender=CallRecord, call_id=call_id, path="websocket", interface="asgi", model="m")
    during = await figures_until(communicator, lambda f: f["in_flight"]["total"] == 1)
    assert during["in_flight"]["websocket"] == 1
    signals.call_finished.send(
        sender=CallRecord, call_id=call_id, status="complete", ttft_ms=120.0, duration_ms=900.0, tokens=7
    )
    after = await figures_until(communicator, lambda f: f["in_flight"]["total"] == 0)
    assert (after["finished"], after["latency_ms"]["p50"]) == (1, 900.0)
    await communicator.disconnect()


async def test_the_figures_name_the_process_with_its_threads_and_db_connections():
    staff = await User.objects.acreate_user("staff", password="x", is_staff=True)
    communicator = await socket_for(staff)
    await communicator.connect()
    figures = await figures_until(communicator, lambda f: bool(f["processes"]))
    process = figures["processes"][0]
    assert process["threads"] >= 1 and process["db_connections"] >= 0
    await communicator.disconnect()


async def test_an_anonymous_socket_is_refused():
    communicator = await socket_for(None)
    connected, code = await communicator.connect()
    assert (connected, code) == (False, CLOSE_FORBIDDEN)


async def test_a_socket_of_a_user_who_is_not_staff_is_refused():
    visitor = await User.objects.acreate_user("visitor", password="x")
    communicator = await socket_for(visitor)
    connected, code = await communicator.connect()
    assert (connected, code) == (False, CLOSE_FORBIDDEN)


async def test_a_whole_replys_time_is_not_counted_as_a_first_token():
    staff = await User.objects.acreate_user("staff", password="x", is_staff=True)
    communicator = await socket_for(staff)
    await communicator.connect()
    for streamed, ttft_ms in [(True, 150.0), (False, 2300.0)]:
        call_id = next(CALL_IDS)
        signals.call_started.send(sender=CallRecord, call_id=call_id, path="async", interface="asgi", model="m")
        signals.call_finished.send(
            sender=CallRecord,
            call_id=call_id,
            status="complete",
            ttft_ms=ttft_ms,
            duration_ms=2300.0,
            tokens=5,
            streamed=streamed,
        )
    figures = await figures_until(communicator, lambda f: f["finished"] == 2)
    assert (figures["ttft_ms"]["p99"], figures["latency_ms"]["p99"]) == (150.0, 2300.0)
    await communicator.disconnect()
