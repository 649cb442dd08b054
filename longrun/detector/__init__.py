"""A runtime detector of blocking calls on the event loop, and a loop-lag monitor (docs/detector.md).

``BlockingDetector`` (blockbuster underneath) makes a blocking call on a running loop raise
``BlockingCallError`` naming the line of your code that made it; ``LoopLagMonitor`` logs when the loop was
stalled longer than a threshold, whatever stalled it. Django: ``LONGRUN_DETECT_BLOCKING = True``
(``longrun.detector.django``) and ``longrun.detector.asgi.BlockingDetectorMiddleware``; pytest:
``longrun.detector.pytest_plugin``.
"""

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
