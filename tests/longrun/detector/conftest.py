"""The detector's tests activate detectors of their own, so the pytest plugin's must stay off for them."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    # The plugin registers this marker; runs without the plugin (not yet installed, or -p no:longrun) need it too.
    config.addinivalue_line("markers", "allow_blocking: the blocking detector of longrun does not check this test.")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Only one detector may be active in a process: the plugin's must not be on while a test builds its own.
    # (This hook sees the whole session's items, hence the path check.)
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.allow_blocking)
