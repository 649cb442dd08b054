"""The demo's warm-up and drain, as the server's start and stop run them."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connections

from llm_app import recovery
from llm_app.models import CallPath, Interface, LLMCall
from llm_app.services import clients, lifecycle, recording, writers
from longrun import asgi

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_app_registers_its_warm_up_and_drain_with_the_server_s_start_and_stop():
    assert lifecycle.warm in asgi._startup
    assert lifecycle.drain in asgi._shutdown


@pytest.mark.skipif(connections["default"].vendor != "sqlite", reason="the writer thread is SQLite's")
async def test_the_warm_up_builds_the_client_and_starts_the_writer(llm):
    await lifecycle.warm()
    writer = writers.sync_writer()
    assert isinstance(writer, writers.SQLiteWriter) and writer._thread is not None
    assert clients._async_clients.get(asyncio.get_running_loop())
    await lifecycle.drain()


async def test_the_drain_writes_what_is_queued_and_closes_the_clients(llm):
    await lifecycle.warm()
    record = await recording.astart(
        prompt="hi", conversation_id=None, path=CallPath.ASYNC, interface=Interface.ASGI, model="m"
    )
    await lifecycle.drain()
    assert await LLMCall.objects.filter(pk=record.call_id).aexists()
    assert not clients._async_clients.get(asyncio.get_running_loop())


async def test_the_drain_stops_the_sweeper_s_thread(llm, settings, monkeypatch):
    settings.LLM_ORPHAN_SWEEP_S = 0
    sweeper = recovery._Sweeper()
    monkeypatch.setattr(recovery, "sweeper", sweeper)
    monkeypatch.setattr(recovery, "close_orphaned_calls", lambda: 0)
    sweeper.poke()
    thread = sweeper.thread
    assert thread is not None and thread.is_alive()
    await lifecycle.drain()
    assert not thread.is_alive()
    assert sweeper.thread is None
