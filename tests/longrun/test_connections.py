"""Whether connection housekeeping needs a thread: only when the thread it would run on holds a connection."""

from __future__ import annotations

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import connections

from longrun.connections import aclose_old_connections, housekeeping_needs_thread, open_connections, track_connections
from longrun.hops import count_hops

track_connections()


def query(alias: str = "housekeeping") -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT 1")


def close() -> None:
    connections["housekeeping"].close()


async def test_a_request_that_has_no_thread_yet_needs_no_housekeeping():
    async with ThreadSensitiveContext():
        assert housekeeping_needs_thread() is False


async def test_a_request_whose_thread_did_no_database_work_needs_no_housekeeping():
    async with ThreadSensitiveContext():
        await sync_to_async(lambda: None)()
        assert housekeeping_needs_thread() is False


@pytest.mark.django_db(transaction=True, databases=["default", "housekeeping"])
async def test_a_request_whose_thread_holds_a_connection_needs_housekeeping_there_until_it_is_closed():
    async with ThreadSensitiveContext():
        await sync_to_async(query)()
        assert housekeeping_needs_thread() is True
        await sync_to_async(close)()
        assert housekeeping_needs_thread() is False


@pytest.mark.skipif(connections["default"].vendor != "sqlite", reason="the test database is not in-memory SQLite")
@pytest.mark.django_db(transaction=True)
async def test_an_in_memory_sqlite_connection_needs_no_housekeeping_as_django_never_closes_it():
    async with ThreadSensitiveContext():
        await sync_to_async(query)("default")
        assert housekeeping_needs_thread() is False


@pytest.mark.django_db(transaction=True, databases=["default", "housekeeping"])
async def test_an_open_connection_of_another_thread_is_listed():
    async with ThreadSensitiveContext():
        await sync_to_async(query)()
        assert any(wrapper.alias == "housekeeping" for wrapper in open_connections())
        await sync_to_async(close)()


async def test_closing_old_connections_makes_no_hop_when_there_is_nothing_to_close():
    async with ThreadSensitiveContext():
        with count_hops() as hops:
            await aclose_old_connections()
    assert hops.sync_to_async == 0


@pytest.mark.django_db(transaction=True, databases=["default", "housekeeping"])
async def test_closing_old_connections_hops_to_the_thread_that_holds_a_connection():
    async with ThreadSensitiveContext():
        await sync_to_async(query)()
        with count_hops() as hops:
            await aclose_old_connections()
        await sync_to_async(close)()
    assert hops.sync_to_async == 1
