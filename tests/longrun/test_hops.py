"""The hop counter: what it counts, what it leaves out, and what its assertion says."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from asgiref.sync import SyncToAsync, sync_to_async

from longrun.hops import count_hops, no_hops


def work() -> int:
    return 1


async def test_a_sync_to_async_call_is_counted_once_with_what_it_ran():
    with count_hops() as hops:
        await sync_to_async(work)()
    assert (hops.sync_to_async, hops.executor) == (1, 0)
    assert hops.hops[0].target == "tests.longrun.test_hops.work"


async def test_asyncio_to_thread_is_counted_as_an_executor_hop():
    with count_hops() as hops:
        await asyncio.to_thread(work)
    assert (hops.sync_to_async, hops.executor) == (0, 1)


def test_a_started_thread_is_counted_with_its_target():
    with count_hops() as hops:
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert hops.threads == 1
    assert hops.hops[0].target.endswith("test_hops.work")


async def test_code_that_stays_on_the_loop_counts_nothing():
    with count_hops() as hops:
        await asyncio.sleep(0)
        work()
    assert hops.total == 0


async def test_a_task_started_inside_the_block_is_counted():
    with count_hops() as hops:
        await asyncio.create_task(sync_to_async(work)())
    assert hops.sync_to_async == 1


async def test_a_task_of_the_loop_started_before_the_block_is_counted_too():
    go = asyncio.Event()

    async def elsewhere() -> None:
        await go.wait()
        await sync_to_async(work)()

    other = asyncio.create_task(elsewhere())
    with count_hops() as hops:
        go.set()
        await other
    assert hops.sync_to_async == 1


async def test_nested_blocks_each_count_the_hops_made_while_they_are_open():
    with count_hops() as outer:
        await sync_to_async(work)()
        with count_hops() as inner:
            await sync_to_async(work)()
    assert (outer.total, inner.total) == (2, 1)


async def test_a_hop_in_another_thread_is_not_counted():
    go, done = threading.Event(), threading.Event()

    def elsewhere() -> None:
        go.wait()
        asyncio.run(sync_to_async(work)())
        done.set()

    thread = threading.Thread(target=elsewhere)
    thread.start()
    with count_hops() as hops:
        go.set()
        while not done.is_set():
            await asyncio.sleep(0.01)
    thread.join()
    assert hops.total == 0


async def test_the_patches_are_removed_when_the_block_ends():
    original = SyncToAsync.__call__
    with count_hops():
        assert SyncToAsync.__call__ is not original
    assert SyncToAsync.__call__ is original


async def test_no_hops_passes_when_nothing_hops():
    with no_hops() as hops:
        await asyncio.sleep(0)
    assert hops.total == 0


async def test_no_hops_names_each_hop_and_how_to_remove_a_known_one():
    from django.middleware.security import SecurityMiddleware
    from django.test import RequestFactory

    middleware = SecurityMiddleware(lambda request: None)
    with pytest.raises(AssertionError) as failure, no_hops():
        await sync_to_async(middleware.process_request)(RequestFactory().get("/"))
    message = str(failure.value)
    assert "1 thread hop(s)" in message
    assert "sync_to_async(django.middleware.security.SecurityMiddleware.process_request)" in message
    assert "longrun.middleware" in message


def test_counting_works_in_sync_code_too():
    with count_hops() as hops:
        thread = threading.Thread(target=time.sleep, args=(0,))
        thread.start()
        thread.join()
    assert hops.threads == 1
