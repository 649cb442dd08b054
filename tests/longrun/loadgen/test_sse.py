"""The one SSE parser: events as the app frames them, and the event-stream rules a browser follows."""

from __future__ import annotations

import pytest

from longrun.loadgen.sse import SSEDecoder, SSEEvent, aiter_events, parse
from tests.longrun.loadgen.conftest import FakeApp


def test_a_body_of_the_apps_events_parses_into_names_and_json_data():
    body = b'event: token\ndata: {"text": " a"}\n\nevent: done\ndata: {"status": "complete"}\n\n'
    assert [(e.event, e.json()) for e in parse(body)] == [("token", {"text": " a"}), ("done", {"status": "complete"})]


def test_an_event_without_a_name_is_a_message():
    assert parse("data: x\n\n") == [SSEEvent("message", "x")]


def test_several_data_lines_join_with_newlines():
    assert parse("data: one\ndata: two\n\n") == [SSEEvent("message", "one\ntwo")]


def test_comments_and_events_without_data_are_not_dispatched():
    assert parse(": keep-alive\n\nevent: token\n\ndata: kept\n\n") == [SSEEvent("message", "kept")]


def test_only_one_space_after_the_colon_is_dropped():
    assert parse("data:  two spaces\ndata:none\n\n") == [SSEEvent("message", " two spaces\nnone")]


def test_crlf_line_endings_are_read_like_newlines():
    assert parse(b"event: token\r\ndata: {}\r\n\r\n") == [SSEEvent("token", "{}")]


def test_an_event_cut_off_before_its_blank_line_is_not_dispatched():
    assert parse("event: done\ndata: {}\n") == []


def test_the_decoder_completes_an_event_on_its_blank_line():
    decoder = SSEDecoder()
    assert [decoder.feed(line) for line in ["event: token\n", "data: 1\n"]] == [None, None]
    assert decoder.feed("\n") == SSEEvent("token", "1")


def test_data_that_is_not_json_raises_value_error():
    with pytest.raises(ValueError):
        SSEEvent("done", "<html>").json()


async def test_a_stream_is_read_event_by_event_as_it_arrives(fake_app: FakeApp):
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.post(fake_app.url + "/stream", json={"prompt": "x"}) as response:
            names = [event.event async for event in aiter_events(response.content)]
    assert names == ["token"] * 5 + ["done"]
