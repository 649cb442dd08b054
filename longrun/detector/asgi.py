"""An ASGI wrapper for development servers: the blocking detector per the settings, and a loop-lag monitor.

``application = BlockingDetectorMiddleware(application)`` in ``asgi.py``. With ``LONGRUN_DETECT_BLOCKING``
off it only passes requests through; on, it activates the detector (if ``LongrunConfig.ready()`` has not) and
starts one ``LoopLagMonitor`` on each loop that serves a request, for stalls the detector cannot name.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from longrun.detector.django import activate_from_settings, loop_lag_threshold
from longrun.detector.looplag import LoopLagMonitor

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BlockingDetectorMiddleware:
    """Wraps an ASGI application once, at import of the project's ``asgi.py``."""

    def __init__(self, app: ASGIApp) -> None:
        """Activates the detector now, at start-up, so that the first request is already checked."""
        self.app = app
        self.detector = activate_from_settings()
        self.lag_threshold = loop_lag_threshold() if self.detector is not None else None
        # One monitor per serving loop; a loop that goes away takes its monitor with it.
        self.monitors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopLagMonitor] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One connection: passed on to the wrapped application with the detector active."""
        if self.lag_threshold is not None:
            loop = asyncio.get_running_loop()
            if loop not in self.monitors:
                monitor = LoopLagMonitor(threshold=self.lag_threshold)
                monitor.start()
                self.monitors[loop] = monitor
        await self.app(scope, receive, send)
