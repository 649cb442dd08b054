"""Database writes that ride out a moment of unavailability: retried with backoff, for a bounded time.

A database restarting, failing over, or refusing connections for a few seconds must not lose a call: the
write that saves a finished answer (or starts a call) is tried again until it lands or ``RETRY_FOR_S`` has
passed. Only connection-level failures are retried (``OperationalError``, ``InterfaceError``: a lost or refused
connection, a lock that did not clear); a write that is wrong stays wrong and fails at once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)

RETRY_FOR_S = 30.0
FIRST_DELAY_S = 0.1
MAX_DELAY_S = 2.0


def retrying[T](
    write: Callable[[], T], *, for_s: float = RETRY_FOR_S, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Runs ``write`` (sync, on a thread of its own: never the event loop), again after each connection failure."""
    deadline = time.monotonic() + for_s
    delay = FIRST_DELAY_S
    while True:
        try:
            return write()
        except (OperationalError, InterfaceError) as exc:
            # The connection may be the broken part: the next attempt opens (or takes from the pool) another.
            with contextlib.suppress(Exception):
                connections[DEFAULT_DB_ALIAS].close()
            if time.monotonic() + delay > deadline:
                logger.error("A database write failed for %.0f s; giving up: %s", for_s, exc)
                raise
            logger.warning("A database write failed (%s); trying again in %.1f s.", exc, delay)
            sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)
