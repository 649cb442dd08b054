"""Behaviour of longrun.detector.django: what each value of the settings switches on."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

from longrun.detector.blocking import BlockingCallError, BlockingDetector, active_detector, detect_blocking
from longrun.detector.django import activate_from_settings, loop_lag_threshold


@pytest.fixture(autouse=True)
def deactivate_afterwards() -> Iterator[None]:
    yield
    if (detector := active_detector()) is not None:
        detector.deactivate()


def test_with_the_setting_absent_nothing_is_activated(settings: Any):
    del settings.LONGRUN_DETECT_BLOCKING
    assert activate_from_settings() is None
    assert active_detector() is None


def test_with_the_setting_false_nothing_is_activated(settings: Any):
    settings.LONGRUN_DETECT_BLOCKING = False
    assert activate_from_settings() is None


async def test_with_the_setting_true_a_blocking_call_on_the_loop_raises(settings: Any):
    settings.LONGRUN_DETECT_BLOCKING = True
    activate_from_settings()
    with pytest.raises(BlockingCallError):
        time.sleep(0)


async def test_with_the_setting_log_a_blocking_call_is_recorded_and_goes_on(settings: Any):
    settings.LONGRUN_DETECT_BLOCKING = "log"
    detector = activate_from_settings()
    time.sleep(0)
    assert detector is not None
    assert [r.function for r in detector.reports] == ["time.sleep"]


def legacy_loader() -> None:
    time.sleep(0)


async def test_the_allow_setting_accepts_blocking_in_the_named_function(settings: Any):
    settings.LONGRUN_DETECT_BLOCKING = True
    settings.LONGRUN_DETECT_BLOCKING_ALLOW = [("tests/longrun/detector/test_django.py", "legacy_loader")]
    detector = activate_from_settings()
    legacy_loader()
    assert detector is not None
    assert detector.reports == []


def test_an_already_active_detector_is_reused(settings: Any):
    settings.LONGRUN_DETECT_BLOCKING = True
    with detect_blocking() as existing:
        assert activate_from_settings() is existing


def test_with_debug_off_activation_warns_that_it_is_a_development_tool(settings: Any, caplog: pytest.LogCaptureFixture):
    settings.LONGRUN_DETECT_BLOCKING = True
    settings.DEBUG = False
    with caplog.at_level(logging.WARNING, logger="longrun.detector"):
        activate_from_settings()
    assert "DEBUG is off" in caplog.text


def test_an_unknown_value_of_the_setting_is_refused(settings: Any):
    settings.LONGRUN_DETECT_BLOCKING = "yes"
    with pytest.raises(ImproperlyConfigured, match="False, True or 'log'"):
        activate_from_settings()


def test_an_allow_entry_that_is_not_a_pair_is_refused(settings: Any):
    settings.LONGRUN_DETECT_BLOCKING = True
    settings.LONGRUN_DETECT_BLOCKING_ALLOW = ["myapp/legacy.py"]
    with pytest.raises(ImproperlyConfigured, match="pairs"):
        activate_from_settings()


def test_the_lag_threshold_defaults_to_a_tenth_of_a_second(settings: Any):
    del settings.LONGRUN_LOOP_LAG_THRESHOLD
    assert loop_lag_threshold() == 0.1


def test_a_lag_threshold_of_none_turns_the_monitor_off(settings: Any):
    settings.LONGRUN_LOOP_LAG_THRESHOLD = None
    assert loop_lag_threshold() is None


@pytest.mark.parametrize("value", [0, -1, "0.1", True])
def test_a_lag_threshold_that_is_not_a_positive_number_is_refused(settings: Any, value: object):
    settings.LONGRUN_LOOP_LAG_THRESHOLD = value
    with pytest.raises(ImproperlyConfigured, match="positive number"):
        loop_lag_threshold()


def test_the_activated_detector_is_a_blocking_detector(settings: Any):
    settings.LONGRUN_DETECT_BLOCKING = True
    assert isinstance(activate_from_settings(), BlockingDetector)


async def test_the_app_config_activates_the_detector_at_start_up_when_the_setting_is_on(settings: Any):
    settings.LONGRUN_DETECT_BLOCKING = True
    apps.get_app_config("longrun").ready()
    with pytest.raises(BlockingCallError):
        time.sleep(0)
