"""The soak's clients call each outcome by what they asked for: a fault must be reported, anything else complete."""

from __future__ import annotations

from llm_app.soak.churn import Tally, classify


def test_a_whole_reply_is_complete_and_anything_else_unasked_for_is_unexpected():
    assert classify("done_complete", fault=False) == "complete"
    assert classify("error", fault=False) == "unexpected:error"
    assert classify("closed", fault=False) == "unexpected:closed"


def test_a_fault_must_come_back_as_an_error_event_or_a_gateway_status():
    assert classify("error", fault=True) == "fault"
    assert classify("http_503", fault=True) == "fault"
    assert classify("done_complete", fault=True) == "unexpected:fault_done_complete"


def test_a_hang_up_or_a_stop_is_what_the_client_did():
    assert classify("hung_up", fault=False) == "hung_up"
    assert classify("stopped", fault=True) == "stopped"


def test_the_tally_counts_unexpected_outcomes_apart():
    tally = Tally()
    tally.outcomes.update({"complete": 5, "unexpected:error": 2, "unexpected:closed": 1})
    assert tally.unexpected == 3
