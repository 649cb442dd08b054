"""The Django settings that switch the detector on, read once when the process starts.

``LONGRUN_DETECT_BLOCKING``: ``False`` (default), ``True`` (a blocking call on the event loop raises
``BlockingCallError`` and is logged on ``longrun.detector``) or ``"log"`` (logged only, the call goes on).
``LONGRUN_DETECT_BLOCKING_ALLOW``: extra ``(file name suffix, function name)`` pairs where blocking is
accepted. ``LONGRUN_LOOP_LAG_THRESHOLD``: seconds of stall the ASGI middleware's monitor logs (default 0.1;
``None`` turns the monitor off).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from longrun.detector.blocking import BlockingDetector

# The detector's logger (longrun.detector.blocking names the same one), here without importing blockbuster.
logger = logging.getLogger("longrun.detector")

Mode = Literal["off", "raise", "log"]
DEFAULT_LAG_THRESHOLD = 0.1


def detection_mode() -> Mode:
    """What ``LONGRUN_DETECT_BLOCKING`` asks for."""
    value = getattr(settings, "LONGRUN_DETECT_BLOCKING", False)
    if value is False or value is None:
        return "off"
    if value is True or value == "raise":
        return "raise"
    if value == "log":
        return "log"
    raise ImproperlyConfigured(f"LONGRUN_DETECT_BLOCKING must be False, True or 'log', not {value!r}.")


def allowed_calls() -> list[tuple[str, str | Iterable[str]]]:
    """The ``LONGRUN_DETECT_BLOCKING_ALLOW`` pairs, checked."""
    pairs = getattr(settings, "LONGRUN_DETECT_BLOCKING_ALLOW", ())
    checked: list[tuple[str, str | Iterable[str]]] = []
    for pair in pairs:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[0], str)):
            raise ImproperlyConfigured(
                "LONGRUN_DETECT_BLOCKING_ALLOW holds (file name suffix, function name) pairs, such as "
                f"('myapp/legacy.py', 'load_config'); got {pair!r}."
            )
        checked.append((pair[0], pair[1]))
    return checked


def loop_lag_threshold() -> float | None:
    """The event-loop stall, in seconds, worth a log record; None for no monitor."""
    value = getattr(settings, "LONGRUN_LOOP_LAG_THRESHOLD", DEFAULT_LAG_THRESHOLD)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ImproperlyConfigured(
            f"LONGRUN_LOOP_LAG_THRESHOLD must be a positive number of seconds or None, not {value!r}."
        )
    return float(value)


def activate_from_settings() -> BlockingDetector | None:
    """Activate the detector the settings ask for, once per process; None when they ask for none.

    Runs when Django's apps are ready and when the ASGI middleware is built. Off (the default), it imports
    nothing, so projects without the ``[detector]`` extra are unaffected.
    """
    mode = detection_mode()
    if mode == "off":
        return None
    from longrun.detector.blocking import BlockingDetector, active_detector

    if (detector := active_detector()) is not None:
        return detector  # a test session or an earlier hook already switched it on
    detector = BlockingDetector(allow=allowed_calls(), raise_errors=mode == "raise")
    detector.activate()
    if not settings.DEBUG:
        # Meant for development: in production the patched functions cost time on every call, and "raise" turns
        # a slow request into a failed one.
        logger.warning("LONGRUN_DETECT_BLOCKING is on while DEBUG is off: it is a development and test tool.")
    return detector
