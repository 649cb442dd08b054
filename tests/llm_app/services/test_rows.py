"""The statements recording runs write the rows the ORM would: every column, defaults and auto_now_add included."""

from __future__ import annotations

import pytest
from django.db import connections, transaction

from llm_app.models import CallPath, Conversation, Interface, LLMCall, Message, Status
from llm_app.services import rows
from llm_app.services.rows import ConversationNotFound, Finish, Rejection, Start

pytestmark = pytest.mark.django_db(transaction=True)
ALIAS = "default"


def run(write, **kwargs):
    with transaction.atomic(), connections[ALIAS].cursor() as cursor:
        return write(cursor, ALIAS, **kwargs)


def started(prompt: str = "Explain ASGI", conversation_id: int | None = None) -> rows.CallRecord:
    start = Start(prompt, conversation_id, CallPath.ASYNC, Interface.ASGI, "sim")
    return run(rows.write_start, start=start)


def test_a_start_writes_a_conversation_the_prompt_an_empty_answer_and_the_call():
    record = started()
    call = LLMCall.objects.get(pk=record.call_id)
    answer = Message.objects.get(pk=record.message_id)
    prompt = Message.objects.get(conversation_id=record.conversation_id, role=Message.Role.USER)
    assert Conversation.objects.get(pk=record.conversation_id).title == "Explain ASGI"
    assert (prompt.content, prompt.status) == ("Explain ASGI", Status.COMPLETE)
    assert (answer.content, answer.status, answer.role) == ("", Status.STREAMING, Message.Role.ASSISTANT)
    assert (call.path, call.interface, call.model, call.status) == ("async", "asgi", "sim", Status.STREAMING)
    assert (call.tokens, call.error, call.ttft_ms, call.message_id) == (0, "", None, answer.pk)
    assert call.owner  # the process's identity, for the sweep of orphaned calls
    assert answer.created_at is not None and call.started_at is not None
    assert record.messages == ({"role": "user", "content": "Explain ASGI"},)


def test_a_finish_saves_the_answer_and_the_figures():
    record = started()
    run(rows.write_finish, finish=Finish(record, "All done", 7, 12.5, 90.0, Status.COMPLETE))
    call = LLMCall.objects.get(pk=record.call_id)
    assert Message.objects.get(pk=record.message_id).content == "All done"
    assert (call.status, call.tokens, call.ttft_ms, call.duration_ms) == (Status.COMPLETE, 7, 12.5, 90.0)


def test_a_continued_conversation_sends_its_history_in_order():
    first = started("one")
    run(rows.write_finish, finish=Finish(first, "answer one", 2, 1.0, 2.0, Status.COMPLETE))
    second = started("two", first.conversation_id)
    assert second.conversation_id == first.conversation_id
    assert [m["content"] for m in second.messages] == ["one", "answer one", "two"]


def test_an_unknown_conversation_is_refused_before_anything_is_written():
    with pytest.raises(ConversationNotFound):
        started("lost", 999_999)
    assert Message.objects.count() == 0


def test_a_rejection_writes_only_the_call_row():
    rejection = Rejection(None, CallPath.SYNC, Interface.WSGI, "sim", 250.0, "over capacity")
    call = LLMCall.objects.get(pk=run(rows.write_rejection, rejection=rejection))
    assert (call.status, call.message_id, call.duration_ms, call.error) == (
        Status.REJECTED,
        None,
        250.0,
        "over capacity",
    )
