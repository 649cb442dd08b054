"""Settings of the LLM simulator: the server-wide configuration, its command-line flags, and per-request overrides.

``SimulatorConfig`` is everything one simulator needs: where it listens, the timing and naming of its replies,
and how its faults behave. The command line (``longrun simulator``, ``python -m longrun.simulator``,
``manage.py llm_simulator``) builds one from its flags; ``SimulatorProcess`` turns one back into flags for its
child. A request may override its own timing with three extra body fields, which the OpenAI SDK sends through
``extra_body``: ``simulator_ttft_ms``, ``simulator_token_ms`` and ``simulator_tokens``.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

DEFAULT_HOST = "127.0.0.1"
# The command line listens on a known port by default; from Python, port 0 (a free one) is the default.
DEFAULT_PORT = 9100
DEFAULT_TTFT_MS = 200.0
DEFAULT_TOKEN_MS = 40.0
DEFAULT_TOKENS = 50
DEFAULT_MODEL = "longrun-simulator"
# A stalled reply must outlive any sane client read timeout, yet not pin a connection forever.
DEFAULT_STALL_CAP_S = 300.0
DEFAULT_RETRY_AFTER_S = 1
# A reply's tokens are held in memory at once: a typo in an override must not exhaust the simulator.
MAX_TOKENS = 100_000

OVERRIDE_TTFT_MS = "simulator_ttft_ms"
OVERRIDE_TOKEN_MS = "simulator_token_ms"
OVERRIDE_TOKENS = "simulator_tokens"


class InvalidRequest(ValueError):
    """Raised while reading a request that the simulator answers with a 400 invalid_request_error."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """One simulator: where it listens and how it answers. Frozen; out-of-range values raise ``ValueError``.

    ``port=0`` binds a free port (the listening line and ``SimulatorProcess.base_url`` give the real one).
    Every reply takes ``ttft_ms`` + ``tokens`` x ``token_ms``; ``model`` is the name ``GET /v1/models`` lists
    first; ``stall_cap_s`` is how long ``fault:stall`` holds a connection; ``retry_after_s`` is the
    ``retry-after`` header of ``fault:429``.
    """

    host: str = DEFAULT_HOST
    port: int = 0
    ttft_ms: float = DEFAULT_TTFT_MS
    token_ms: float = DEFAULT_TOKEN_MS
    tokens: int = DEFAULT_TOKENS
    model: str = DEFAULT_MODEL
    stall_cap_s: float = DEFAULT_STALL_CAP_S
    retry_after_s: int = DEFAULT_RETRY_AFTER_S

    def __post_init__(self) -> None:
        # Refused here, once, rather than as meaningless timing on every request.
        for name in ("ttft_ms", "token_ms", "stall_cap_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 1 <= self.tokens <= MAX_TOKENS:
            raise ValueError(f"tokens must be between 1 and {MAX_TOKENS}, got {self.tokens!r}")
        if self.retry_after_s < 0:
            raise ValueError(f"retry_after_s must be >= 0, got {self.retry_after_s!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {self.port!r}")
        if not self.host:
            raise ValueError("host must name an interface, such as 127.0.0.1")

    def argv(self) -> list[str]:
        """The command-line flags that build this same configuration (``add_arguments`` reads them back)."""
        return [
            "--host", self.host, "--port", str(self.port),
            "--ttft-ms", repr(self.ttft_ms), "--token-ms", repr(self.token_ms), "--tokens", str(self.tokens),
            "--model", self.model, "--stall-cap-s", repr(self.stall_cap_s), "--retry-after-s", str(self.retry_after_s),
        ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Timing:
    """The timing of one reply, in seconds, after per-request overrides and ``max_tokens``."""

    ttft_s: float
    token_s: float
    tokens: int
    truncated: bool

    @property
    def total_s(self) -> float:
        """The whole reply's duration, TTFT + N token delays, streamed or not."""
        return self.ttft_s + self.tokens * self.token_s

    def token_at(self, index: int) -> float:
        """When token ``index`` is due, from the request's start (index N is the end of the reply)."""
        return self.ttft_s + index * self.token_s


def resolve_timing(config: SimulatorConfig, body: dict[str, Any]) -> Timing:
    """One request's timing: the configured defaults, the request's overrides, then its ``max_tokens``."""
    ttft_ms = _number(body, OVERRIDE_TTFT_MS, config.ttft_ms)
    token_ms = _number(body, OVERRIDE_TOKEN_MS, config.token_ms)
    tokens = _count(body, OVERRIDE_TOKENS, config.tokens)
    if tokens > MAX_TOKENS:
        raise InvalidRequest(f"'{OVERRIDE_TOKENS}' must be at most {MAX_TOKENS}.", param=OVERRIDE_TOKENS)
    # max_completion_tokens replaced max_tokens in the OpenAI API; either one caps the reply.
    cap_name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    cap = _count(body, cap_name, tokens)
    return Timing(ttft_s=ttft_ms / 1000, token_s=token_ms / 1000, tokens=min(tokens, cap), truncated=cap < tokens)


def _number(body: dict[str, Any], name: str, default: float) -> float:
    """A timing override: a finite non-negative number, or the default when absent."""
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidRequest(f"'{name}' must be a number >= 0.", param=name)
    return float(value)


def _count(body: dict[str, Any], name: str, default: int) -> int:
    """A token count: an integer >= 1, or the default when absent."""
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"'{name}' must be an integer >= 1.", param=name)
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the simulator's flags, the same for every command line that starts it."""
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"Interface to bind (default {DEFAULT_HOST}).")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"Port, 0 for a free one (default {DEFAULT_PORT})."
    )
    parser.add_argument("--ttft-ms", type=float, default=DEFAULT_TTFT_MS, help="Time to first token, in ms.")
    parser.add_argument("--token-ms", type=float, default=DEFAULT_TOKEN_MS, help="Delay between tokens, in ms.")
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS, help="Tokens per reply.")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="Model name listed by GET /v1/models.")
    parser.add_argument(
        "--stall-cap-s", type=float, default=DEFAULT_STALL_CAP_S, help="How long fault:stall holds a connection."
    )
    parser.add_argument("--retry-after-s", type=int, default=DEFAULT_RETRY_AFTER_S, help="retry-after of fault:429.")


def config_from_options(options: dict[str, Any]) -> SimulatorConfig:
    """The configuration the parsed flags of ``add_arguments`` describe; ValueError on out-of-range values."""
    return SimulatorConfig(
        host=options["host"],
        port=options["port"],
        ttft_ms=options["ttft_ms"],
        token_ms=options["token_ms"],
        tokens=options["tokens"],
        model=options["model"],
        stall_cap_s=options["stall_cap_s"],
        retry_after_s=options["retry_after_s"],
    )
