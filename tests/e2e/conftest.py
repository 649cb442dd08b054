"""Real server processes on 127.0.0.1 for end-to-end tests, started the way README and benchmarks start them."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from llm_app import servers as demo_servers
from llm_app.server_env import migrated_sqlite_env
from longrun import servers
from longrun.servers import free_port

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["ROOT", "SCREENSHOTS", "free_port", "running_server", "wait_until_listening"]

CHROMIUM = os.environ.get("LONGRUN_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
# Chromium's own background connections are refused on a closed network; these flags keep it quiet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def wait_until_listening(port: int, process: subprocess.Popen[Any], timeout: float = 60.0) -> None:
    servers.wait_until_listening("127.0.0.1", port, process, timeout)


@contextmanager
def running_server(name: str, env: dict[str, str], **options: int) -> Iterator[str]:
    """Starts server ``name`` on a free port, yields its base URL, and stops it (also on failure)."""
    with demo_servers.running_server(name, env=env, cwd=ROOT, **options) as (url, _process):
        yield url


@pytest.fixture(scope="session")
def e2e_env(tmp_path_factory: pytest.TempPathFactory, slow_simulator) -> dict[str, str]:
    """The environment of server processes: a migrated SQLite file of their own, the slow simulator."""
    return migrated_sqlite_env(
        tmp_path_factory.mktemp("e2e"),
        llm_url=slow_simulator.url,
        settings_module="project.settings_test",
        PYTHONUNBUFFERED="1",
    )


@pytest.fixture(scope="session")
def server(e2e_env) -> Iterator[Callable[..., AbstractContextManager[str]]]:
    """A factory of running servers: ``with server("daphne") as url: ...``."""

    def start(name: str, env: dict[str, str] | None = None, **options: int) -> AbstractContextManager[str]:
        return running_server(name, env or e2e_env, **options)

    yield start


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium through Playwright, launched by path (Playwright cannot download browsers here)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        message = "Browser tests need Debian's chromium: apt-get install chromium (./run test does it as root)."
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
