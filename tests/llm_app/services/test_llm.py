"""The LLM service's generations: closed before they were ever iterated, they end as a cancelled call."""

from __future__ import annotations

import pytest

from llm_app.models import CallPath, Interface, LLMCall, Message, Status
from llm_app.services import llm as service
from llm_app.services import recording
from llm_app.services.limits import Slot
from llm_app.services.schemas import ChatRequest

pytestmark = pytest.mark.django_db(transaction=True)
REQUEST = ChatRequest(prompt="never read")


class CountingSlot(Slot):
    """A slot under the cap that counts its releases."""

    def __init__(self) -> None:
        super().__init__(None)
        self.releases = 0

    def release(self) -> None:
        self.releases += 1


def test_a_sync_generation_closed_before_iteration_is_recorded_as_cancelled_and_frees_its_slot(llm):
    record = recording.start(
        prompt="never read", conversation_id=None, path=CallPath.SYNC, interface=Interface.WSGI, model="m"
    )
    slot = CountingSlot()
    generation = service.Generation(request=REQUEST, record=record, slot=slot)
    generation.close()
    assert generation.result is not None and generation.result.status == Status.CANCELLED
    assert slot.releases >= 1
    call = LLMCall.objects.get()
    assert (call.status, Message.objects.get(pk=call.message_id).status) == (Status.CANCELLED, Status.CANCELLED)


async def test_an_async_generation_closed_before_iteration_is_recorded_as_cancelled(llm, async_clients):
    generation = await service.astream(request=REQUEST, path=CallPath.ASYNC, interface=Interface.ASGI)
    await generation.aclose()
    assert generation.result is not None and generation.result.status == Status.CANCELLED
    assert (await LLMCall.objects.aget()).status == Status.CANCELLED


async def test_a_generation_runs_once_closed_after_it_ended(llm, async_clients):
    generation = await service.astream(request=REQUEST, path=CallPath.ASYNC, interface=Interface.ASGI)
    events = [event async for event in generation]
    await generation.aclose()
    assert isinstance(events[-1], service.DoneEvent)
    assert (await LLMCall.objects.aget()).status == Status.COMPLETE
