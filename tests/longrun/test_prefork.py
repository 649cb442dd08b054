"""longrun.prefork: N copies of a command on one inherited socket, stopped together."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from longrun.servers import free_port, wait_until_listening

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def test_sigterm_stops_every_copy():
    port = free_port()
    command = [sys.executable, "-m", "longrun.prefork", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--"]
    command += [sys.executable, "-m", "daphne", "--fd", "{fd}", "tests.longrun.servers_app:app"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_listening("127.0.0.1", port, process)
        children = psutil.Process(process.pid).children()
        assert len(children) == 2
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
            assert int(reply.read()) in {child.pid for child in children}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        time.sleep(0.1)
        assert not any(child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in children)
    finally:
        if process.poll() is None:
            process.kill()


def test_a_command_without_the_socket_placeholder_is_refused():
    done = subprocess.run(
        [sys.executable, "-m", "longrun.prefork", "--bind", "127.0.0.1:0", "--", "daphne", "app"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "{fd}" in done.stderr
