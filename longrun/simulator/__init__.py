"""An OpenAI-compatible fake LLM for tests and load tests: exact timing, deterministic text, faults on request.

Start it with ``python manage.py llm_simulator`` or ``python -m longrun.simulator`` (same flags), in-process
with ``start_simulator``, or as a child process with ``run_simulator_process``. See docs/simulator.md.

Faults are asked for with the model name: ``fault:500``, ``fault:429``, ``fault:stall``, ``fault:cut`` and
``fault:malformed`` (``longrun.simulator.faults`` describes each).
"""

from longrun.simulator.app import CONFIG_KEY, STATS_KEY, build_app
from longrun.simulator.config import (
    OVERRIDE_TOKEN_MS,
    OVERRIDE_TOKENS,
    OVERRIDE_TTFT_MS,
    InvalidRequest,
    SimulatorConfig,
    add_arguments,
    config_from_options,
)
from longrun.simulator.faults import (
    FAULT_429,
    FAULT_500,
    FAULT_CUT,
    FAULT_MALFORMED,
    FAULT_NAMES,
    FAULT_STALL,
    Fault,
)
from longrun.simulator.server import (
    LISTENING_PREFIX,
    SimulatorProcess,
    base_url,
    listening_line,
    run,
    run_simulator_process,
    serve,
    start_simulator,
)
from longrun.simulator.stats import Stats
from longrun.simulator.text import reply_tokens

__all__ = [
    "CONFIG_KEY",
    "FAULT_429",
    "FAULT_500",
    "FAULT_CUT",
    "FAULT_MALFORMED",
    "FAULT_NAMES",
    "FAULT_STALL",
    "LISTENING_PREFIX",
    "OVERRIDE_TOKENS",
    "OVERRIDE_TOKEN_MS",
    "OVERRIDE_TTFT_MS",
    "STATS_KEY",
    "Fault",
    "InvalidRequest",
    "SimulatorConfig",
    "SimulatorProcess",
    "Stats",
    "add_arguments",
    "base_url",
    "build_app",
    "config_from_options",
    "listening_line",
    "reply_tokens",
    "run",
    "run_simulator_process",
    "serve",
    "start_simulator",
]
