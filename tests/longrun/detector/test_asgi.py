"""Behaviour of longrun.detector.asgi: the middleware passes through when off, checks and watches when on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from longrun.detector.asgi import BlockingDetectorMiddleware
from longrun.detector.blocking import BlockingCallError, active_detector

SCOPE: dict[str, Any] = {"type": "http", "method": "GET", "path": "/"}


@pytest.fixture(autouse=True)
def deactivate_afterwards() -> Iterator[None]:
    yield
    if (detector := active_detector()) is not None:
        detector.deactivate()


async def receive() -> Mapping[str, Any]:
    return {"type": "http.request", "body": b""}


async def send(message: Mapping[str, Any]) -> None:
    pass


async def quiet_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})


async def sleepy_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    time.sleep(0)


async def stop_monitors(middleware: BlockingDetectorMiddleware) -> None:
    for monitor in list(middleware.monitors.values()):
        await monitor.stop()


async def test_with_the_setting_off_requests_pass_through_unchecked(settings: Any):
    settings.LONGRUN_DETECT_BLOCKING = False
    middleware = BlockingDetectorMiddleware(sleepy_app)
    await middleware(SCOPE, receive, send)
    assert middleware.detector is None
    assert len(middleware.monitors) == 0


async def test_with_the_setting_on_a_blocking_call_in_the_app_raises(settings: Any):
    settings.LONGRUN_DETECT_BLOCKING = True
    middleware = BlockingDetectorMiddleware(sleepy_app)
    try:
        with pytest.raises(BlockingCallError):
            await middleware(SCOPE, receive, send)
    finally:
        await stop_monitors(middleware)


async def test_with_the_setting_on_the_serving_loop_gets_one_lag_monitor(settings: Any):
    settings.LONGRUN_DETECT_BLOCKING = True
    settings.LONGRUN_LOOP_LAG_THRESHOLD = 0.5
    middleware = BlockingDetectorMiddleware(quiet_app)
    try:
        await middleware(SCOPE, receive, send)
        await middleware(SCOPE, receive, send)
        monitor = middleware.monitors[asyncio.get_running_loop()]
        assert (len(middleware.monitors), monitor.threshold, monitor.running) == (1, 0.5, True)
    finally:
        await stop_monitors(middleware)


async def test_with_the_lag_threshold_none_no_monitor_is_started(settings: Any):
    settings.LONGRUN_DETECT_BLOCKING = True
    settings.LONGRUN_LOOP_LAG_THRESHOLD = None
    middleware = BlockingDetectorMiddleware(quiet_app)
    await middleware(SCOPE, receive, send)
    assert len(middleware.monitors) == 0
