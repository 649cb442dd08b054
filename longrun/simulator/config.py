"""Settings of the LLM simulator: the server-wide defaults, their command-line flags, and per-request overrides.

The defaults come from the command line (``llm_simulator`` or ``python -m longrun.simulator``); a request may
override its own timing with three extra body fields, which the OpenAI SDK sends through ``extra_body``:
``simulator_ttft_ms``, ``simulator_token_ms`` and ``simulator_tokens``.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from typing import Any

DEFAULT_HOST = "127.0.0.1"
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
    """The server-wide timing and naming of replies; built once when the simulator starts."""

    ttft_ms: float = DEFAULT_TTFT_MS
    token_ms: float = DEFAULT_TOKEN_MS
    tokens: int = DEFAULT_TOKENS
    model: str = DEFAULT_MODEL
    stall_cap_s: float = DEFAULT_STALL_CAP_S
    retry_after_s: int = DEFAULT_RETRY_AFTER_S

    def __post_init__(self) -> None:
        """Called on construction: refuse settings that would make timing meaningless."""
        for name in ("ttft_ms", "token_ms", "stall_cap_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 1 <= self.tokens <= MAX_TOKENS:
            raise ValueError(f"tokens must be between 1 and {MAX_TOKENS}, got {self.tokens!r}")
        if self.retry_after_s < 0:
            raise ValueError(f"retry_after_s must be >= 0, got {self.retry_after_s!r}")


@dataclass(frozen=True, slots=True)
class Timing:
    """The timing of one reply, in seconds, after per-request overrides and ``max_tokens``."""

    ttft_s: float
    token_s: float
    tokens: int
    truncated: bool

    @property
    def total_s(self) -> float:
        """Called by the non-streaming path: the reply takes TTFT + N token delays, like a stream."""
        return self.ttft_s + self.tokens * self.token_s

    def token_at(self, index: int) -> float:
        """Called per token: its offset from the request's start (the end of the reply is index N)."""
        return self.ttft_s + index * self.token_s


def resolve_timing(config: SimulatorConfig, body: dict[str, Any]) -> Timing:
    """Called per chat completion: the request's timing from the defaults, its overrides and max_tokens."""
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
    """Called for each timing override: a finite non-negative number, or the default when absent."""
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise InvalidRequest(f"'{name}' must be a number >= 0.", param=name)
    return float(value)


def _count(body: dict[str, Any], name: str, default: int) -> int:
    """Called for token counts: an integer >= 1, or the default when absent."""
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"'{name}' must be an integer >= 1.", param=name)
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Called by the management command and ``python -m longrun.simulator`` to declare the same flags."""
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
    """Called after parsing the flags of ``add_arguments``; raises ValueError on out-of-range values."""
    return SimulatorConfig(
        ttft_ms=options["ttft_ms"],
        token_ms=options["token_ms"],
        tokens=options["tokens"],
        model=options["model"],
        stall_cap_s=options["stall_cap_s"],
        retry_after_s=options["retry_after_s"],
    )
