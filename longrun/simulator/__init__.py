"""An OpenAI-compatible fake LLM for tests and load tests: exact timing, deterministic text, faults on request.

From Python: a ``SimulatorConfig`` (where it listens, how it answers), a ``SimulatorProcess(config)`` to run
it in a child process, and the ``Fault`` a model name asks for (``model=Fault.CUT``)::

    with SimulatorProcess(SimulatorConfig(ttft_ms=50, token_ms=10, tokens=20)) as simulator:
        client = OpenAI(base_url=simulator.base_url, api_key="unused")

From a shell: ``longrun simulator``, ``python -m longrun.simulator`` or ``manage.py llm_simulator`` (the same
flags). It needs aiohttp, which the ``[simulator]`` extra installs. See docs/simulator.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from longrun.simulator.config import SimulatorConfig
    from longrun.simulator.faults import Fault
    from longrun.simulator.server import SimulatorProcess, fetch_stats, settled_stats

__all__ = ["Fault", "SimulatorConfig", "SimulatorProcess", "fetch_stats", "settled_stats"]

# Imported on first use: the configuration and the command lines' flags load without aiohttp, so a missing
# [simulator] extra is reported when the simulator is started, with what to install.
_HOMES = {
    "Fault": "faults",
    "SimulatorConfig": "config",
    "SimulatorProcess": "server",
    "fetch_stats": "server",
    "settled_stats": "server",
}


def __getattr__(name: str) -> Any:
    """The public names, each imported from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
