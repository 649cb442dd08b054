"""A runtime detector of blocking calls on the event loop, and a loop-lag monitor (docs/detector.md).

``BlockingDetector`` (blockbuster underneath) makes a blocking call on a running loop raise
``BlockingCallError`` naming the line of your code that made it; ``LoopLagMonitor`` logs when the loop was
stalled longer than a threshold, whatever stalled it. Django: ``LONGRUN_DETECT_BLOCKING = True``
(``longrun.detector.django``) and ``longrun.detector.asgi.BlockingDetectorMiddleware``; pytest:
``longrun.detector.pytest_plugin``.

The detector needs blockbuster, which the ``[detector]`` extra installs. The names below are imported when
first used, so that the settings hooks and the pytest plugin load without it (and do nothing until asked);
using the detector without blockbuster raises ``longrun.extras.MissingExtra``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from longrun.detector.blocking import (
        BlockingCallError,
        BlockingDetector,
        active_detector,
        allow_blocking,
        detect_blocking,
    )
    from longrun.detector.looplag import LoopLagMonitor
    from longrun.detector.report import BlockingReport

__all__ = [
    "BlockingCallError",
    "BlockingDetector",
    "BlockingReport",
    "LoopLagMonitor",
    "active_detector",
    "allow_blocking",
    "detect_blocking",
]

_HOMES = {
    "BlockingCallError": "blocking",
    "BlockingDetector": "blocking",
    "BlockingReport": "report",
    "LoopLagMonitor": "looplag",
    "active_detector": "blocking",
    "allow_blocking": "blocking",
    "detect_blocking": "blocking",
}


def __getattr__(name: str) -> Any:
    """The public names, each imported from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
