"""A loop's async OpenAI client is closed with the loop, whichever way the loop ends: nothing left for the GC."""

from __future__ import annotations

import asyncio

from asgiref.sync import async_to_sync
from openai import AsyncOpenAI

from llm_app.services import clients


async def one_call() -> AsyncOpenAI:
    """The running loop's client, after a request that leaves a kept-alive connection in its pool."""
    client = clients.aget_client()
    await client.with_options(max_retries=0).models.list()
    return client


def test_a_loop_run_by_asyncio_run_closes_its_client_when_it_ends(llm):
    client = asyncio.run(one_call())
    assert client.is_closed()


def test_the_loop_async_to_sync_makes_for_one_call_closes_its_client_when_it_ends(llm):
    # An async view under a WSGI server runs this way: a loop of its own per request.
    client = async_to_sync(one_call)()
    assert client.is_closed()


def test_a_loop_that_ended_leaves_no_clients_behind(llm):
    before = clients.open_loops()
    for _ in range(3):
        asyncio.run(one_call())
    assert clients.open_loops() == before


def test_closing_a_loops_clients_before_it_ends_closes_them_at_once(llm):
    async def close_early() -> tuple[AsyncOpenAI, bool]:
        client = await one_call()
        await clients.aclose_clients()
        return client, client.is_closed()

    client, closed_before_the_loop_ended = asyncio.run(close_early())
    assert closed_before_the_loop_ended
    assert client.is_closed()


def test_after_closing_a_loop_gets_a_new_client_that_still_closes_with_it(llm):
    async def close_then_call_again() -> tuple[AsyncOpenAI, AsyncOpenAI]:
        first = await one_call()
        await clients.aclose_clients()
        return first, await one_call()

    first, second = asyncio.run(close_then_call_again())
    assert second is not first
    assert second.is_closed()


def test_a_loop_closed_without_finalising_its_generators_is_forgotten_when_the_next_loop_gets_a_client(llm):
    abandoned = asyncio.new_event_loop()
    client = abandoned.run_until_complete(one_call())
    abandoned.run_until_complete(client.close())  # by hand: this loop will not finalise its generators
    abandoned.close()
    assert clients.open_loops() >= 1
    asyncio.run(one_call())
    assert clients.open_loops() == 0
