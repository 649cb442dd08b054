"""Stand-in race servers: ``race_app.py`` processes that start in a second, for the race's own tests.

The real servers (gunicorn and daphne running the app) are the browser test's business; these speak the same
stream endpoints, and the "gunicorn" one serves five answers at a time, as five sync workers do.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llm_app.dashboard.race_servers import WORKERS, RaceServers
from llm_app.dashboard.tracker import Tracker
from longrun.servers import free_port, stop_process, wait_until_listening
from tests.llm_app.dashboard.trackers import Clock

RACE_APP = Path(__file__).with_name("race_app.py")


@dataclass
class StandIns:
    """Launches stand-in servers in place of gunicorn and daphne, and remembers each launch."""

    launched: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    @contextmanager
    def launch(self, name: str, *, env: dict[str, str], cwd: Any = None, **options: Any) -> Iterator[tuple[str, Any]]:
        if name in self.refuse:
            raise RuntimeError(f"{name} exited with status 3 before listening")
        port = free_port()
        slots = options.get("workers", 0) if name == "gunicorn" else 0
        process = subprocess.Popen([sys.executable, str(RACE_APP), str(port), str(slots)])
        self.launched.append(name)
        self.processes.append(process)
        try:
            wait_until_listening("127.0.0.1", port, process, timeout=30)
            yield f"http://127.0.0.1:{port}", process
        finally:
            stop_process(process)


def no_database(directory: Path, llm_url: str, model: str) -> dict[str, str]:
    return {"LLM_BASE_URL": llm_url}


@pytest.fixture
def stand_ins() -> StandIns:
    return StandIns()


@pytest.fixture
async def race_servers(stand_ins: StandIns, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[RaceServers]:
    """The race's servers, as stand-ins, in place of the process's own; stopped at the end."""
    from llm_app.dashboard import race

    servers = RaceServers(keep_warm_s=0.2, launcher=stand_ins.launch, prepare=no_database)
    monkeypatch.setattr(race, "servers", servers)
    yield servers
    await servers.astop()


__all__ = ["WORKERS", "StandIns"]


@pytest.fixture
def clock() -> Clock:
    """A clock at 1000.0 s that moves only when the test moves it."""
    return Clock()


@pytest.fixture
def tracker(clock: Clock) -> Tracker:
    """A live-figures tracker with a 60 s window on the test's clock."""
    return Tracker(window_s=60.0, clock=clock)
