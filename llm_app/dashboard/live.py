"""The live figures' subscription to recording's events, connected once by ``LlmAppConfig.ready()``.

The receivers run on the thread that records the call, the event loop included: they hand the event to the
tracker's queue and make sure the publisher runs, nothing more (``llm_app.services.signals`` says why).
"""

from __future__ import annotations

from typing import Any

from llm_app.dashboard.publisher import publisher
from llm_app.dashboard.tracker import tracker
from llm_app.services import signals
from longrun.connections import track_connections


def on_call_started(sender: Any, *, call_id: int, path: str, interface: str, model: str, **kwargs: Any) -> None:
    tracker.call_started(call_id, path=path, interface=interface, model=model)
    publisher.ensure_started()


def on_call_finished(
    sender: Any,
    *,
    call_id: int,
    status: str,
    ttft_ms: float | None,
    duration_ms: float,
    tokens: int,
    streamed: bool = True,
    **kwargs: Any,
) -> None:
    # A whole reply's ttft_ms is the reply's time: it is no first token, so the TTFT figures leave it out.
    first_token_ms = ttft_ms if streamed else None
    tracker.call_finished(call_id, status=status, ttft_ms=first_token_ms, duration_ms=duration_ms, tokens=tokens)
    publisher.ensure_started()


def on_call_rejected(sender: Any, *, path: str, **kwargs: Any) -> None:
    tracker.call_rejected(path=path)
    publisher.ensure_started()


def subscribe() -> None:
    """Connects the receivers (idempotent) and counts database connections from now on."""
    signals.call_started.connect(on_call_started, dispatch_uid="llm_app.dashboard.live.started")
    signals.call_finished.connect(on_call_finished, dispatch_uid="llm_app.dashboard.live.finished")
    signals.call_rejected.connect(on_call_rejected, dispatch_uid="llm_app.dashboard.live.rejected")
    track_connections()
