"""Behaviour of longrun.detector.looplag: a stalled loop is logged with what ran, a quiet one is not.

The stalls are ``time.sleep`` inside ``allow_blocking()``, so that these tests also pass with the blocking
detector on. Assertions are about what was logged, never about how fast anything ran.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

from longrun.detector.blocking import allow_blocking
from longrun.detector.looplag import LoopLagMonitor


def stall(seconds: float) -> None:
    with allow_blocking():
        time.sleep(seconds)  # the stall


async def test_a_stall_longer_than_the_threshold_is_logged(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="longrun.detector"):
        async with LoopLagMonitor(threshold=0.1, interval=0.02):
            stall(0.3)
    assert [r.name for r in caplog.records] == ["longrun.detector"]
    assert "The event loop was blocked for" in caplog.records[0].getMessage()


async def test_a_quiet_loop_logs_nothing(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="longrun.detector"):
        async with LoopLagMonitor(threshold=0.5, interval=0.02) as monitor:
            await asyncio.sleep(0.2)
    assert caplog.records == []
    assert monitor.lags == []


async def test_the_recorded_lag_is_at_least_the_threshold():
    async with LoopLagMonitor(threshold=0.1, interval=0.02) as monitor:
        stall(0.3)
    assert [lag.lag >= 0.1 for lag in monitor.lags] == [True]


async def test_the_log_names_the_line_that_was_running_during_the_stall():
    async with LoopLagMonitor(threshold=0.1, interval=0.02) as monitor:
        stall(0.3)
    culprit = monitor.lags[0].culprit
    assert culprit is not None
    assert culprit.source == "time.sleep(seconds)  # the stall"


async def test_without_stack_sampling_the_stall_is_logged_without_a_stack():
    async with LoopLagMonitor(threshold=0.1, interval=0.02, sample_stack=False) as monitor:
        stall(0.3)
    assert [(lag.stack, lag.culprit) for lag in monitor.lags] == [((), None)]


async def test_start_and_stop_watch_the_loop_like_the_context_manager():
    monitor = LoopLagMonitor(threshold=0.1, interval=0.02)
    monitor.start()
    await asyncio.sleep(0)
    stall(0.3)
    await monitor.stop()
    assert len(monitor.lags) == 1


async def test_stop_ends_the_task_and_the_watchdog_thread():
    async with LoopLagMonitor(threshold=0.1, interval=0.02) as monitor:
        assert monitor.running
    assert not monitor.running
    assert [t for t in threading.enumerate() if t.name == "longrun loop-lag watchdog"] == []


def test_start_outside_a_running_loop_is_refused():
    with pytest.raises(RuntimeError):
        LoopLagMonitor().start()


@pytest.mark.parametrize("options", [{"threshold": 0}, {"interval": -1}])
def test_a_threshold_or_interval_that_is_not_positive_is_refused(options: dict[str, float]):
    with pytest.raises(ValueError, match="positive"):
        LoopLagMonitor(**options)
