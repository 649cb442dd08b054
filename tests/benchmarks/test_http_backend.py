"""The HTTP-backend benchmark runs end to end on a tiny load, and its figures add up (never how fast they are)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_every_stream_of_each_backend_is_counted_by_the_client_and_by_the_simulator(tmp_path: Path) -> None:
    out = tmp_path / "http_backend.json"
    options = {"--concurrency": 6, "--rounds": 2, "--tokens": 4, "--token-ms": 5, "--ttft-ms": 20, "--pause": 0}
    argv = [str(part) for option in options.items() for part in option]
    command = [sys.executable, "benchmarks/http_backend.py", *argv, "--quiet-below", "0", "--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    assert [r["backend"] for r in results] == ["aiohttp", "httpx"]
    for result in results:
        assert (result["requests"], result["completed"], result["errors"]) == (12, 12, 0)
        # The warm-up request is the simulator's one more.
        assert result["simulator_stats"]["completed"] == 13 and result["simulator_stats"]["active"] == 0
        assert result["client_cpu_s"] > 0 and result["sim_cpu_s"] is not None
