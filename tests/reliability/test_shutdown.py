"""Stopping a server with generations in flight: SIGTERM loses nothing, SIGKILL's leftovers are closed later.

SIGTERM: the server stops accepting at once; each running generation either finishes (servers with a grace
period: uvicorn and gunicorn wait for their requests) or ends ``cancelled`` with its partial text saved (daphne
cancels its application instances at once); no row stays ``streaming``. SIGKILL leaves rows ``streaming``: the
next server to start on that database closes them as ``error`` at its first call, and a live sibling closes
them too, never touching its own calls.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from tests.reliability.clients import Outcome, post_json, post_sse, ws_prompt
from tests.reliability.conftest import Site, Upstream, running_site

pytestmark = pytest.mark.e2e


class InFlight:
    """Requests started in threads; ``wait_for_tokens`` returns once each stream has had its first tokens."""

    def __init__(self) -> None:
        self.outcomes: dict[str, Outcome | BaseException] = {}
        self.threads: list[threading.Thread] = []

    def start(self, name: str, call: Callable[[], Outcome]) -> None:
        def run() -> None:
            try:
                self.outcomes[name] = call()
            except Exception as exc:  # noqa: BLE001 (the server went away: that is an outcome here)
                self.outcomes[name] = exc

        thread = threading.Thread(target=run, name=name)
        thread.start()
        self.threads.append(thread)

    def join(self) -> dict[str, Outcome | BaseException]:
        for thread in self.threads:
            thread.join(timeout=60)
        return self.outcomes


def start_generations(site: Site, names: list[str]) -> tuple[InFlight, dict[str, str]]:
    """One generation per name (its path), each with a prompt of its own; returns once all are producing tokens."""
    prompts = {name: f"shutdown {name} {uuid.uuid4().hex[:8]}" for name in names}
    calls: dict[str, Callable[[], Outcome]] = {
        "async stream": lambda: post_sse(site.url + "/api/async/stream", {"prompt": prompts["async stream"]}),
        "sync stream": lambda: post_sse(site.url + "/api/sync/stream", {"prompt": prompts["sync stream"]}),
        "websocket": lambda: ws_prompt(site.ws_url, {"prompt": prompts["websocket"]}, origin=site.url),
        "async complete": lambda: post_json(site.url + "/api/async/complete", {"prompt": prompts["async complete"]}),
        "sync complete": lambda: post_json(site.url + "/api/sync/complete", {"prompt": prompts["sync complete"]}),
    }
    flight = InFlight()
    for name in names:
        flight.start(name, calls[name])
    deadline = time.monotonic() + 20
    while len(site.rows("SELECT 1 FROM llm_app_llmcall WHERE tokens >= 0 AND status = 'streaming'")) < len(names):
        assert time.monotonic() < deadline, "the generations did not start"
        time.sleep(0.05)
    time.sleep(1.0)  # about ten tokens each
    return flight, prompts


def refuses_connections(site: Site, timeout: float = 10.0) -> bool:
    host, port = site.url.removeprefix("http://").split(":")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((host, int(port))) != 0:
                return True
        time.sleep(0.02)
    return False


def streaming_rows(site: Site) -> list[Any]:
    return site.rows("SELECT id FROM llm_app_llmcall WHERE status = 'streaming'")


def terminate_during(
    site_factory: Any, server: str, upstream: Upstream, names: list[str]
) -> tuple[Site, dict[str, Outcome | BaseException], dict[str, str]]:
    """Starts ``server``, the generations ``names``, then SIGTERM: the port must refuse at once."""
    with site_factory(server, LLM_BASE_URL=upstream.url) as site:
        flight, prompts = start_generations(site, names)
        site.process.send_signal(signal.SIGTERM)
        assert refuses_connections(site)
        site.process.wait(timeout=30)
        outcomes = flight.join()
    assert streaming_rows(site) == []
    return site, outcomes, prompts


def test_sigterm_to_daphne_refuses_new_connections_and_saves_every_generation_as_cancelled(
    site_factory, slow_upstream: Upstream
) -> None:
    names = ["async stream", "sync stream", "websocket", "async complete"]
    site, outcomes, prompts = terminate_during(site_factory, "daphne", slow_upstream, names)
    for name in names:
        call = site.call_for(prompts[name])
        assert call.status == call.message_status == "cancelled", name
        outcome = outcomes[name]
        if name != "async complete":
            assert isinstance(outcome, Outcome)
            # The client may miss the last token or two in flight; it never has more than was saved.
            assert outcome.text and call.content.startswith(outcome.text), name
            assert call.tokens == len(call.content.split())
    assert slow_upstream.settled()["active"] == 0


def test_sigterm_to_daphne_lets_a_sync_call_finish_in_its_thread_and_saves_it_complete(
    site_factory, slow_upstream: Upstream
) -> None:
    with site_factory("daphne", LLM_BASE_URL=slow_upstream.url) as site:
        flight, prompts = start_generations(site, ["sync complete"])
        site.process.send_signal(signal.SIGTERM)
        site.process.wait(timeout=30)
        flight.join()
    # A thread cannot be cancelled: the process waits for it, and its answer is saved whole.
    call = site.call_for(prompts["sync complete"])
    assert (call.status, call.tokens) == ("complete", slow_upstream.tokens)


def test_sigterm_to_uvicorn_lets_running_streams_finish_and_cancels_sockets_with_their_text(
    site_factory, slow_upstream: Upstream
) -> None:
    site, outcomes, prompts = terminate_during(
        site_factory, "uvicorn", slow_upstream, ["async stream", "sync stream", "websocket"]
    )
    for name in ["async stream", "sync stream"]:
        outcome = outcomes[name]
        assert isinstance(outcome, Outcome) and outcome.end == "done", name
        assert site.call_for(prompts[name]).status == "complete"
    # uvicorn closes sockets at shutdown (1012); the generation is cancelled with what it had.
    socket_call = site.call_for(prompts["websocket"])
    assert socket_call.status == "cancelled" and socket_call.content
    assert slow_upstream.settled()["active"] == 0


def test_sigterm_to_gunicorn_lets_each_worker_finish_its_sync_stream(site_factory, slow_upstream: Upstream) -> None:
    with site_factory("gunicorn", LLM_BASE_URL=slow_upstream.url) as site:
        flight, prompts = start_generations(site, ["sync stream", "sync complete"])
        site.process.send_signal(signal.SIGTERM)
        site.process.wait(timeout=60)
        outcomes = flight.join()
    stream = outcomes["sync stream"]
    assert isinstance(stream, Outcome) and stream.end == "done"
    assert [site.call_for(prompt).status for prompt in prompts.values()] == ["complete", "complete"]


def test_calls_left_streaming_by_a_killed_server_are_closed_as_errors_when_it_starts_again(
    site_factory, slow_upstream: Upstream, tmp_path
) -> None:
    database = tmp_path / "db.sqlite3"
    with running_site("daphne", database, LLM_BASE_URL=slow_upstream.url) as site:
        flight, prompts = start_generations(site, ["async stream", "websocket"])
        site.process.send_signal(signal.SIGKILL)
        site.process.wait(timeout=10)
        flight.join()
    assert len(streaming_rows(site)) == 2, "SIGKILL gives no chance to save anything"
    with running_site("daphne", database, LLM_BASE_URL=slow_upstream.url) as again:
        post_json(again.url + "/api/async/complete", {"prompt": "first call after the restart"})
        for prompt in prompts.values():
            call = again.call_for(prompt, timeout=15)
            assert (call.status, call.message_status) == ("error", "error")
            assert "stopped (crashed or was killed)" in call.error
        assert streaming_rows(again) == []


def test_a_live_server_closes_the_calls_of_a_killed_sibling_and_never_its_own(
    site_factory, slow_upstream: Upstream, tmp_path
) -> None:
    database = tmp_path / "db.sqlite3"
    fast_sweeps = {"LLM_BASE_URL": slow_upstream.url, "LLM_ORPHAN_SWEEP_S": "0.5"}
    with (
        running_site("daphne", database, **fast_sweeps) as doomed,
        running_site("daphne", database, **fast_sweeps) as live,
    ):
        doomed_flight, doomed_prompts = start_generations(doomed, ["async stream"])
        live_flight, live_prompts = start_generations(live, ["async stream"])
        doomed.process.send_signal(signal.SIGKILL)
        doomed.process.wait(timeout=10)
        # The live server sweeps again at its next call once the interval has passed.
        time.sleep(0.6)
        post_json(live.url + "/api/async/complete", {"prompt": "a call that triggers the sweep"})
        orphan = live.call_for(doomed_prompts["async stream"], timeout=15)
        assert orphan.status == "error"
        outcome = live_flight.join()["async stream"]
        doomed_flight.join()
    assert isinstance(outcome, Outcome) and outcome.end == "done"
    assert live.call_for(live_prompts["async stream"]).status == "complete"
