"""Logging pieces the settings refer to by name."""

from __future__ import annotations

import logging


class DropTraceback(logging.Filter):
    """Keeps a record but not its traceback: for errors a client causes at will, where the stack adds nothing.

    A request with a foreign ``Host`` header is logged by Django with the whole stack of the check that refused
    it; anyone can send thousands, and the one line says all there is to say.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True
