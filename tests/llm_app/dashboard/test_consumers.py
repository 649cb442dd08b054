"""The dashboard socket and the race: staff start one, its progress is relayed, never two at once.

The race's runner is replaced by one that publishes a step and waits: racing servers is ``test_race.py``'s
business (with stand-ins) and the browser test's (with gunicorn and daphne).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import AsyncClient

from llm_app.dashboard import race
from llm_app.dashboard.race_servers import servers as race_servers
from llm_app.dashboard.tracker import tracker
from project.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_layer(settings: Any) -> Iterator[None]:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    tracker.reset()
    yield


@pytest.fixture
def release(monkeypatch: pytest.MonkeyPatch) -> Iterator[asyncio.Event]:
    """Replaces the runner: it marks the race running, publishes once, and ends when the event is set."""
    finish = asyncio.Event()

    async def fake_run(state: race.Race) -> None:
        state.state, state.running_since = "running", time.monotonic()
        state.lanes["sync"].entrants[0].state = "streaming"
        await race.publish(state)
        await finish.wait()
        state.state, state.finished = "done", state.running_since + 0.5
        await race.publish(state)

    monkeypatch.setattr(race, "run", fake_run)
    yield finish
    finish.set()


async def staff_socket_of(name: str) -> WebsocketCommunicator:
    staff = await User.objects.acreate_user(name, password="x", is_staff=True)
    client = AsyncClient()
    await client.aforce_login(staff)
    headers = [
        (b"origin", b"http://127.0.0.1:8000"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    communicator = WebsocketCommunicator(application, "/ws/admin/dashboard/", headers=headers)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


@pytest.fixture
async def staff_socket() -> AsyncIterator[WebsocketCommunicator]:
    communicator = await staff_socket_of("staff")
    yield communicator
    await communicator.disconnect()


async def next_of(communicator: WebsocketCommunicator, kind: str) -> dict[str, Any]:
    """Skips the live figures until a message of ``kind`` arrives."""
    while True:
        message = await communicator.receive_json_from(timeout=10)
        if message["type"] == kind:
            return message  # type: ignore[no-any-return]


async def test_a_started_race_relays_each_users_progress(staff_socket, release):
    await staff_socket.send_json_to({"type": "race.start", "users": 3})
    progress = await next_of(staff_socket, "race")
    assert progress["race"]["state"] == "running"
    assert [u["state"] for u in progress["race"]["lanes"]["sync"]["users"]] == ["streaming", "ready", "ready"]
    release.set()
    while (await next_of(staff_socket, "race"))["race"]["state"] != "done":
        pass


async def test_a_dashboard_opened_after_a_race_sees_it_with_its_clock_stopped(staff_socket, release):
    await staff_socket.send_json_to({"type": "race.start", "users": 2})
    await next_of(staff_socket, "race")
    release.set()
    while (await next_of(staff_socket, "race"))["race"]["state"] != "done":
        pass
    later = await staff_socket_of("later")
    shown = (await next_of(later, "race"))["race"]
    await later.disconnect()
    assert (shown["state"], shown["elapsed_s"]) == ("done", 0.5)


async def test_a_second_start_while_a_race_runs_is_refused(staff_socket, release):
    await staff_socket.send_json_to({"type": "race.start", "users": 2})
    await next_of(staff_socket, "race")
    await staff_socket.send_json_to({"type": "race.start", "users": 2})
    refused = await next_of(staff_socket, "race.refused")
    assert "already" in refused["message"]
    release.set()
    while (await next_of(staff_socket, "race"))["race"]["state"] != "done":
        pass


@pytest.mark.parametrize("users", [0, race.MAX_USERS + 1, "8", True])
async def test_a_start_with_a_bad_number_of_users_is_refused(staff_socket, users):
    await staff_socket.send_json_to({"type": "race.start", "users": users})
    refused = await next_of(staff_socket, "race.refused")
    assert "users" in refused["message"]
    assert not race.is_running()


async def test_an_open_dashboard_keeps_the_race_servers_warm_until_it_closes():
    communicator = await staff_socket_of("staff")
    assert race_servers.watchers == 1
    await communicator.disconnect()
    assert race_servers.watchers == 0
