"""The recording of LLMCall rows feeds the live figures: a started call is in flight until it is finished."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from llm_app.dashboard.merge import merge
from llm_app.dashboard.tracker import Snapshot, tracker
from llm_app.models import CallPath, Interface, Status
from llm_app.services import recording
from llm_app.services.schemas import ChatResult

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_figures() -> Iterator[None]:
    tracker.reset()
    yield
    tracker.reset()


def result_of(record: recording.CallRecord, status: Status, content: str = "", tokens: int = 0) -> ChatResult:
    return ChatResult(
        conversation=record.conversation_id,
        message=record.message_id,
        content=content,
        tokens=tokens,
        ttft_ms=None,
        duration_ms=3.0,
        status=status,
    )


def in_flight() -> dict[str, int]:
    return merge([tracker.snapshot()])["in_flight"]  # type: ignore[no-any-return]


def test_a_sync_call_is_in_flight_between_start_and_finish():
    record = recording.start(prompt="hi", conversation_id=None, path=CallPath.SYNC, interface=Interface.WSGI, model="m")
    assert in_flight()["sync"] == 1
    recording.finish(record=record, result=result_of(record, Status.COMPLETE, content="x", tokens=1))
    assert in_flight()["total"] == 0


async def test_an_async_cancelled_call_counts_as_an_upstream_call_cancelled():
    record = await recording.astart(
        prompt="hi", conversation_id=None, path=CallPath.ASYNC, interface=Interface.ASGI, model="m"
    )
    snapshot = merge([await metrics_snapshot()])
    assert snapshot["in_flight"]["async"] == 1
    await recording.afinish(record=record, result=result_of(record, Status.CANCELLED))
    figures = merge([await metrics_snapshot()])
    assert (figures["in_flight"]["total"], figures["cancelled_upstream"]["async"]) == (0, 1)


async def metrics_snapshot() -> Snapshot:
    """The snapshot taken off the event loop, as the publisher's thread takes it."""
    return await asyncio.to_thread(tracker.snapshot)
