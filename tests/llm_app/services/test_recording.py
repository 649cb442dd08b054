"""The recording twins: what they write, what they announce, and a cancellation in the middle of a start."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.db import connections

from llm_app.models import CallPath, Interface, LLMCall, Status
from llm_app.services import recording, signals, writers
from llm_app.services.schemas import ChatResult

pytestmark = pytest.mark.django_db(transaction=True)


def result(record: recording.CallRecord, status: Status = Status.COMPLETE) -> ChatResult:
    return ChatResult(
        conversation=record.conversation_id,
        message=record.message_id,
        content="hello",
        tokens=1,
        ttft_ms=1.0,
        duration_ms=2.0,
        status=status,
    )


def test_start_and_finish_are_announced_with_the_call_s_figures():
    heard: list[tuple[str, dict]] = []

    def started(sender, **kwargs):
        heard.append(("started", kwargs))

    def finished(sender, **kwargs):
        heard.append(("finished", kwargs))

    signals.call_started.connect(started)
    signals.call_finished.connect(finished)
    try:
        record = recording.start(
            prompt="hi", conversation_id=None, path=CallPath.SYNC, interface=Interface.WSGI, model="m"
        )
        recording.finish(record=record, result=result(record))
    finally:
        signals.call_started.disconnect(started)
        signals.call_finished.disconnect(finished)
    assert [name for name, _ in heard] == ["started", "finished"]
    assert heard[0][1]["call_id"] == heard[1][1]["call_id"] == record.call_id
    assert (heard[1][1]["status"], heard[1][1]["tokens"]) == (Status.COMPLETE, 1)


@pytest.mark.skipif(connections["default"].vendor != "sqlite", reason="it holds SQLite's writer thread")
async def test_a_start_cancelled_while_its_rows_are_written_ends_as_cancelled():
    writer = writers.sync_writer()
    busy, release = threading.Event(), threading.Event()
    writer.submit(lambda cursor, alias: (busy.set(), release.wait(10)))
    await asyncio.to_thread(busy.wait, 10)
    task = asyncio.create_task(
        recording.astart(
            prompt="cancel me", conversation_id=None, path=CallPath.ASYNC, interface=Interface.ASGI, model="m"
        )
    )
    await asyncio.sleep(0.05)
    task.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    call = await LLMCall.objects.aget()
    assert call.status == Status.CANCELLED


async def test_afinish_saves_the_answer_even_when_its_caller_is_cancelled():
    record = await recording.astart(
        prompt="hi", conversation_id=None, path=CallPath.ASYNC, interface=Interface.ASGI, model="m"
    )
    task = asyncio.create_task(recording.afinish(record=record, result=result(record, Status.CANCELLED)))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await writers.adrain()
    call = await LLMCall.objects.aget(pk=record.call_id)
    assert call.status == Status.CANCELLED


async def test_settling_waits_for_the_saves_cancelled_calls_still_owe_and_those_they_start():
    saved: list[str] = []
    release = asyncio.Event()

    async def then_save_again() -> None:
        saved.append("second")

    async def save() -> None:
        await release.wait()
        saved.append("first")
        recording.detach(then_save_again())  # a save that starts another, as a cancelled start's close does

    recording.detach(save())
    settling = asyncio.ensure_future(recording.asettle())
    await asyncio.sleep(0.05)
    assert not settling.done()
    release.set()
    await settling
    assert saved == ["first", "second"]
