"""A clock the test moves by hand, and a short way to finish a call on a Tracker (the fixtures are in conftest)."""

from __future__ import annotations

from llm_app.dashboard.tracker import Tracker


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def finish(
    tracker: Tracker,
    call_id: int,
    status: str = "complete",
    ttft_ms: float | None = 100.0,
    duration_ms: float = 1000.0,
    tokens: int = 10,
) -> None:
    tracker.call_finished(call_id, status=status, ttft_ms=ttft_ms, duration_ms=duration_ms, tokens=tokens)
