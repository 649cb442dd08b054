"""A stream whose response is dropped before a byte of it was read still closes its call, as cancelled."""

from __future__ import annotations

import asyncio
import gc

import pytest

from llm_app.models import CallPath, Interface, LLMCall
from llm_app.services import llm as service
from llm_app.services.schemas import ChatRequest

pytestmark = pytest.mark.django_db(transaction=True)


async def wait_for_status(call_id: int, status: str) -> str:
    for _ in range(100):
        current = (await LLMCall.objects.aget(pk=call_id)).status
        if current == status:
            break
        await asyncio.sleep(0.05)
    return current


async def test_a_generation_dropped_unread_saves_its_call_as_cancelled():
    generation = await service.astream(
        request=ChatRequest(prompt="Never read"), path=CallPath.ASYNC, interface=Interface.ASGI
    )
    call_id = generation.record.call_id
    assert (await LLMCall.objects.aget(pk=call_id)).status == "streaming"
    del generation
    gc.collect()
    assert await wait_for_status(call_id, "cancelled") == "cancelled"


async def test_a_generation_that_was_read_is_not_saved_again_when_dropped(llm, async_clients):
    generation = await service.astream(
        request=ChatRequest(prompt="Read me", max_tokens=2), path=CallPath.ASYNC, interface=Interface.ASGI
    )
    events = [event async for event in generation]
    assert isinstance(events[-1], service.DoneEvent)
    call_id = generation.record.call_id
    del generation
    gc.collect()
    await asyncio.sleep(0.2)
    assert (await LLMCall.objects.aget(pk=call_id)).status == "complete"
