"""`./run serve` (manage.py serve): the simulator and daphne come up together and go down together."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.e2e.conftest import ROOT, free_port, wait_until_listening

pytestmark = pytest.mark.e2e


def start_serve(e2e_env: dict[str, str], port: int, llm_port: int) -> subprocess.Popen[str]:
    env = {
        **e2e_env,
        "LLM_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
        "LLM_SIMULATOR_TTFT_MS": "10",
        "LLM_SIMULATOR_TOKEN_MS": "5",
        "LLM_SIMULATOR_TOKENS": "4",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def assert_nothing_listens(*ports: int) -> None:
    for used in ports:
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{used}/", timeout=2)


def test_serve_starts_the_simulator_and_daphne_and_stops_both(e2e_env):
    port, llm_port = free_port(), free_port()
    process = start_serve(e2e_env, port, llm_port)
    try:
        wait_until_listening(port, process)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/async/complete",
            data=json.dumps({"prompt": "Hi"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            body = json.load(reply)
        assert (body["status"], body["tokens"]) == ("complete", 4)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert "admin / admin" in output, output
    assert_nothing_listens(port, llm_port)


def test_a_second_sigterm_during_the_clean_up_still_stops_both_children(e2e_env):
    port, llm_port = free_port(), free_port()
    process = start_serve(e2e_env, port, llm_port)
    try:
        wait_until_listening(port, process)
        wait_until_listening(llm_port, process)
        process.send_signal(signal.SIGTERM)
        # The clean-up is under way: daphne takes its time to stop, and the second signal lands meanwhile.
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
    finally:
        process.communicate(timeout=30)
    assert_nothing_listens(port, llm_port)
