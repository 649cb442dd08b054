"""Behaviour of longrun.detector.blocking: what fails, what is let through, and what is left behind."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from longrun.detector.blocking import (
    BlockingCallError,
    BlockingDetector,
    active_detector,
    allow_blocking,
    detect_blocking,
)

ORIGINAL_SLEEP = time.sleep


@pytest.fixture
def detector() -> Iterator[BlockingDetector]:
    with detect_blocking() as active:
        yield active


async def test_time_sleep_on_the_loop_raises_naming_the_line_that_called_it(detector: BlockingDetector):
    with pytest.raises(BlockingCallError) as raised:
        time.sleep(0)
    assert raised.value.report.culprit is not None
    assert raised.value.report.culprit.source == "time.sleep(0)"


async def test_the_error_message_says_what_to_do(detector: BlockingDetector):
    with pytest.raises(BlockingCallError, match="use `await asyncio.sleep"):
        time.sleep(0)


async def test_a_method_of_a_builtin_type_is_reported_too(detector: BlockingDetector):
    with open(__file__, "rb") as source, pytest.raises(BlockingCallError) as raised:
        source.read(1)
    assert raised.value.report.function == "io.BufferedReader.read"


async def test_sqlite_on_the_loop_is_reported_with_the_orm_advice(detector: BlockingDetector):
    with allow_blocking():
        connection = sqlite3.connect(":memory:")
    try:
        with pytest.raises(BlockingCallError, match="a-prefixed ORM method"):
            connection.execute("select 1")
    finally:
        connection.close()


async def test_the_same_call_in_a_worker_thread_is_not_reported(detector: BlockingDetector):
    await asyncio.to_thread(time.sleep, 0)
    assert detector.reports == []


def test_sync_code_with_no_running_loop_is_not_checked(detector: BlockingDetector):
    time.sleep(0)
    assert detector.reports == []


async def test_a_blocking_call_is_logged_on_the_longrun_detector_logger(
    detector: BlockingDetector, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.ERROR, logger="longrun.detector"), pytest.raises(BlockingCallError):
        time.sleep(0)
    assert [r.name for r in caplog.records] == ["longrun.detector"]
    assert "time.sleep(0)" in caplog.records[0].getMessage()


async def test_a_blocking_call_swallowed_by_the_code_under_test_is_still_recorded(detector: BlockingDetector):
    try:  # noqa: SIM105 (what careless code under test does)
        time.sleep(0)
    except Exception:  # noqa: BLE001
        pass
    assert [r.function for r in detector.reports] == ["time.sleep"]


async def test_allow_blocking_lets_a_call_through_unreported(detector: BlockingDetector):
    with allow_blocking():
        time.sleep(0)
    assert detector.reports == []


async def test_allow_blocking_in_one_task_does_not_cover_another(detector: BlockingDetector):
    allowed = asyncio.Event()
    release = asyncio.Event()

    async def holds_the_allowance() -> None:
        with allow_blocking():
            allowed.set()
            await release.wait()

    holder = asyncio.create_task(holds_the_allowance())
    await allowed.wait()
    try:
        with pytest.raises(BlockingCallError):
            time.sleep(0)
    finally:
        release.set()
        await holder


def legacy_reader() -> None:
    time.sleep(0)


async def test_an_allow_pair_accepts_blocking_inside_the_named_function():
    with detect_blocking(allow=[("tests/longrun/detector/test_blocking.py", "legacy_reader")]) as detector:
        legacy_reader()
    assert detector.reports == []


async def test_log_only_mode_records_the_call_and_lets_it_run():
    with detect_blocking(raise_errors=False) as detector:
        time.sleep(0)
    assert [r.function for r in detector.reports] == ["time.sleep"]


async def test_a_log_record_written_to_a_file_on_the_loop_is_not_reported(detector: BlockingDetector, tmp_path: Path):
    log = logging.getLogger("tests.detector.file")
    with allow_blocking():
        handler = logging.FileHandler(tmp_path / "app.log")
    log.addHandler(handler)
    try:
        log.warning("written on the loop")
    finally:
        log.removeHandler(handler)
        with allow_blocking():
            handler.close()
    assert detector.reports == []


async def test_the_test_clients_first_request_builds_the_middleware_unreported(detector: BlockingDetector):
    # AsyncClient builds the middleware chain (ServeStatic scans the static files) on its first request.
    await AsyncClient().get("/no-such-page/")
    assert detector.reports == []


def test_functions_pick_blockbusters_names_by_prefix():
    names = BlockingDetector(functions=["socket"]).function_names
    assert names and all(name.startswith("socket.socket.") for name in names)


def test_an_unknown_function_name_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="time.sleep"):
        BlockingDetector(functions=["time.nap"])


def test_deactivating_puts_the_original_functions_back():
    with detect_blocking():
        assert time.sleep is not ORIGINAL_SLEEP
    assert time.sleep is ORIGINAL_SLEEP


def test_only_one_detector_is_active_at_a_time(detector: BlockingDetector):
    with pytest.raises(RuntimeError, match="already active"):
        BlockingDetector().activate()


def test_the_active_detector_can_be_found(detector: BlockingDetector):
    assert active_detector() is detector


# --- Django's ASGI request body: spooled in memory, then on disk past FILE_UPLOAD_MAX_MEMORY_SIZE ---------------


@csrf_exempt
async def body_length(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(len(request.body)))


urlpatterns = [path("body/", body_length)]


async def post_through_asgi(body: bytes) -> int:
    """POSTs ``body`` in two chunks through Django's real ASGIHandler, as a server would; returns the status."""
    messages = [
        {"type": "http.request", "body": body[: len(body) // 2], "more_body": True},
        {"type": "http.request", "body": body[len(body) // 2 :], "more_body": False},
    ]
    sent: list[Mapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if not messages:
            await asyncio.Event().wait()  # the client stays connected; Django cancels this once it has replied
        return messages.pop(0)

    async def send(message: Mapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/body/",
        "query_string": b"",
        "scheme": "http",
        "headers": [(b"host", b"localhost"), (b"content-length", str(len(body)).encode())],
        "server": ("localhost", 80),
        "client": ("127.0.0.1", 1),
        "asgi": {"version": "3.0"},
    }
    await ASGIHandler()(scope, receive, send)
    return int(sent[0]["status"])


@pytest.fixture
def body_view(settings: Any) -> None:
    settings.ROOT_URLCONF = __name__
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 100
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = None


async def test_reading_a_body_held_in_memory_is_not_reported(body_view: None):
    with detect_blocking(raise_errors=False) as detector:
        assert await post_through_asgi(b"x" * 50) == 200
    assert detector.reports == []


async def test_django_spooling_a_large_body_to_disk_is_not_reported_but_the_views_read_of_it_is(body_view: None):
    with detect_blocking(raise_errors=False) as detector:
        assert await post_through_asgi(b"x" * 500) == 200
    assert [(r.function, r.culprit and r.culprit.function) for r in detector.reports] == [
        ("io.BufferedRandom.read", "body_length")
    ]


def test_a_loop_marked_running_but_suspended_in_another_greenlet_is_not_blocked(detector: BlockingDetector):
    # What Playwright's sync API does between calls: the thread's running-loop marker is set, the loop is not
    # running any code of ours.
    loop = asyncio.new_event_loop()
    asyncio.events._set_running_loop(loop)
    try:
        time.sleep(0)
    finally:
        asyncio.events._set_running_loop(None)
        loop.close()
    assert detector.reports == []
