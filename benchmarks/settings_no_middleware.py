"""The demo's settings with MIDDLEWARE emptied: used by async_overhead.py to price Django's stock middleware."""

from project.settings import *  # noqa: F403

MIDDLEWARE: list[str] = []
# The admin wants its middleware; nothing here serves the admin.
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]
