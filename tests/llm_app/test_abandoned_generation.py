"""A stream whose response is dropped before a byte of it was read still closes its call, as cancelled.

The finaliser saves in a detached task; each test waits for the detached saves to be written
(``recording.asettle``) before it reads the row back, rather than polling the row while a write may be under way.
"""

from __future__ import annotations

import gc

import pytest

from llm_app.models import CallPath, Interface, LLMCall
from llm_app.services import llm as service
from llm_app.services import recording
from llm_app.services.schemas import ChatRequest

pytestmark = pytest.mark.django_db(transaction=True)


async def test_a_generation_dropped_unread_saves_its_call_as_cancelled():
    generation = await service.astream(
        request=ChatRequest(prompt="Never read"), path=CallPath.ASYNC, interface=Interface.ASGI
    )
    call_id = generation.record.call_id
    assert (await LLMCall.objects.aget(pk=call_id)).status == "streaming"
    del generation
    gc.collect()
    await recording.asettle()
    assert (await LLMCall.objects.aget(pk=call_id)).status == "cancelled"


async def test_a_generation_that_was_read_is_not_saved_again_when_dropped(llm, async_clients):
    generation = await service.astream(
        request=ChatRequest(prompt="Read me", max_tokens=2), path=CallPath.ASYNC, interface=Interface.ASGI
    )
    events = [event async for event in generation]
    assert isinstance(events[-1], service.DoneEvent)
    call_id = generation.record.call_id
    del generation
    gc.collect()
    await recording.asettle()  # a second save, had the finaliser made one, would be written by now
    assert (await LLMCall.objects.aget(pk=call_id)).status == "complete"
