"""Real server processes on 127.0.0.1 for end-to-end tests, started the way README and benchmarks start them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from longrun.servers import server_command

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The server exited with {process.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"Nothing listened on {port} after {timeout}s")


@pytest.fixture(scope="session")
def e2e_env(tmp_path_factory: pytest.TempPathFactory, slow_simulator) -> dict[str, str]:
    """The environment of server processes: a migrated SQLite file of their own, the slow simulator."""
    db = tmp_path_factory.mktemp("e2e") / "e2e.sqlite3"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "project.settings_test",
        "DATABASE_URL": f"sqlite:///{db}",
        "LLM_BASE_URL": slow_simulator.url,
        "PYTHONUNBUFFERED": "1",
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    return env


@contextmanager
def running_server(name: str, env: dict[str, str], **options: int) -> Iterator[str]:
    """Starts server ``name`` on a free port, yields its base URL, and stops it (also on failure)."""
    port = free_port()
    argv, extra = server_command(name, host="127.0.0.1", port=port, **options)
    log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)  # noqa: SIM115
    with log:
        process = subprocess.Popen(argv, cwd=ROOT, env={**env, **extra}, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            wait_until_listening(port, process)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; {name} said:\n{Path(log.name).read_text()[-3000:]}") from None
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        Path(log.name).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def server(e2e_env) -> Iterator[Callable[..., object]]:
    """A factory of running servers: ``with server("daphne") as url: ...``."""
    def start(name: str, env: dict[str, str] | None = None, **options: int):
        return running_server(name, env or e2e_env, **options)

    yield start
