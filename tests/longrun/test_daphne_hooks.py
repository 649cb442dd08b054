"""Under daphne, the shutdown hooks run once every application instance has ended; daphne's kill survives a
connection without one. (The real daphne, stopped mid-generation: tests/reliability/test_exit.py.)"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from longrun import daphne_hooks


class Server:
    """daphne's ``Server``, as far as its kill goes: 4.2.3's ``kill_all_applications``, KeyError included."""

    def __init__(self) -> None:
        self.connections: dict[str, dict[str, Any]] = {}

    def kill_all_applications(self) -> None:
        for details in self.connections.values():
            instance = details["application_instance"]
            if not instance.done():
                instance.cancel()


daphne_hooks.tolerate_connections_without_instance(Server)


@pytest.fixture
def server() -> Iterator[Server]:
    server = Server()
    yield server
    daphne_hooks._servers.discard(server)


def instance_that_saves_on_cancel(release: asyncio.Event, saved: list[str], name: str) -> asyncio.Task[None]:
    async def serve() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await release.wait()  # a cancelled call's save, on its way to the database
            saved.append(name)
            raise

    return asyncio.ensure_future(serve())


async def test_the_kill_skips_a_keep_alive_connection_that_has_no_instance_and_cancels_the_others(server):
    running = asyncio.ensure_future(asyncio.Event().wait())
    server.connections = {"keep-alive": {"connected": 0.0}, "streaming": {"application_instance": running}}
    server.kill_all_applications()
    await asyncio.sleep(0)
    assert running.cancelled()
    assert set(server.connections) == {"keep-alive", "streaming"}


async def test_the_shutdown_hooks_run_once_the_instances_the_kill_cancelled_have_cleaned_up(server):
    saved: list[str] = []
    release = asyncio.Event()
    server.connections = {"stream": {"application_instance": instance_that_saves_on_cancel(release, saved, "a")}}
    await asyncio.sleep(0)
    server.kill_all_applications()

    async def drain() -> None:
        saved.append("drained")

    shutdown = asyncio.ensure_future(daphne_hooks.run_after_cancelled(drain))
    await asyncio.sleep(0.05)
    assert saved == []
    release.set()
    await shutdown
    assert saved == ["a", "drained"]


async def test_an_instance_that_starts_after_the_kill_is_cancelled_and_waited_for_too(server):
    saved: list[str] = []
    release = asyncio.Event()
    server.connections = {"reading its request": {"connected": 0.0}}
    server.kill_all_applications()
    # Its request arrived after the kill: daphne starts its instance all the same.
    server.connections["reading its request"]["application_instance"] = instance_that_saves_on_cancel(
        release, saved, "late"
    )
    await asyncio.sleep(0)

    async def drain() -> None:
        saved.append("drained")

    shutdown = asyncio.ensure_future(daphne_hooks.run_after_cancelled(drain))
    await asyncio.sleep(0.05)
    release.set()
    await shutdown
    assert saved == ["late", "drained"]


async def test_an_instance_is_cancelled_once_so_that_its_cleanup_is_not_interrupted(server):
    cancellations = 0
    release = asyncio.Event()

    async def serve() -> None:
        nonlocal cancellations
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancellations += 1
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancellations += 1
            raise

    server.connections = {"stream": {"application_instance": asyncio.ensure_future(serve())}}
    await asyncio.sleep(0)
    server.kill_all_applications()

    async def drain() -> None:
        pass

    shutdown = asyncio.ensure_future(daphne_hooks.run_after_cancelled(drain))
    await asyncio.sleep(0.05)
    release.set()
    await shutdown
    assert cancellations == 1


async def test_with_nothing_running_the_shutdown_hooks_run_at_once(server):
    ran: list[str] = []

    async def drain() -> None:
        ran.append("drained")

    server.kill_all_applications()
    await daphne_hooks.run_after_cancelled(drain)
    assert ran == ["drained"]
