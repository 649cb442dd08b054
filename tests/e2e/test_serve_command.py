"""`./run serve` (manage.py serve): the simulator and daphne come up together and go down together."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from tests.e2e.conftest import ROOT, free_port, wait_until_listening

pytestmark = pytest.mark.e2e


def test_serve_starts_the_simulator_and_daphne_and_stops_both(e2e_env):
    port, llm_port = free_port(), free_port()
    env = {
        **e2e_env,
        "LLM_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
        "LLM_SIMULATOR_TTFT_MS": "10",
        "LLM_SIMULATOR_TOKEN_MS": "5",
        "LLM_SIMULATOR_TOKENS": "4",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
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
    for used in (port, llm_port):
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{used}/", timeout=2)
