"""The llm_ask command: a sync caller printing a stream from the async client."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from llm_app.models import LLMCall

pytestmark = pytest.mark.django_db(transaction=True)


def test_llm_ask_prints_the_streamed_answer_and_records_the_call(llm):
    out, err = StringIO(), StringIO()
    call_command("llm_ask", "Tell me something", stdout=out, stderr=err)
    assert len(out.getvalue().split()) == llm.tokens
    assert f"{llm.tokens} tokens" in err.getvalue()
    call = LLMCall.objects.get()
    assert (call.path, call.interface, call.status) == ("command", "none", "complete")


def test_llm_ask_refuses_an_empty_prompt_with_the_fix():
    with pytest.raises(CommandError, match="`prompt` is required"):
        call_command("llm_ask", "  ")


def test_llm_ask_reports_an_upstream_failure(llm, settings):
    settings.LLM_MODEL = "fault:429"
    with pytest.raises(CommandError, match="HTTP 429"):
        call_command("llm_ask", "Rate limit me", stdout=StringIO(), stderr=StringIO())
    assert LLMCall.objects.get().status == "error"
