"""Server-wide settings, their flags, and per-request timing overrides."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

from longrun.simulator.config import (
    MAX_TOKENS,
    InvalidRequest,
    SimulatorConfig,
    add_arguments,
    config_from_options,
    resolve_timing,
)

CONFIG = SimulatorConfig(ttft_ms=200, token_ms=40, tokens=50)


def test_the_defaults_time_a_reply_as_ttft_plus_a_delay_per_token() -> None:
    timing = resolve_timing(CONFIG, {})
    assert (timing.ttft_s, timing.token_s, timing.tokens, timing.truncated) == (0.2, 0.04, 50, False)
    assert timing.total_s == pytest.approx(2.2)


def test_overrides_replace_the_defaults_for_one_request() -> None:
    timing = resolve_timing(CONFIG, {"simulator_ttft_ms": 10, "simulator_token_ms": 0, "simulator_tokens": 3})
    assert (timing.ttft_s, timing.token_s, timing.tokens) == (0.01, 0.0, 3)


def test_max_tokens_below_the_length_truncates() -> None:
    timing = resolve_timing(CONFIG, {"max_tokens": 5})
    assert (timing.tokens, timing.truncated) == (5, True)


def test_max_completion_tokens_is_honoured_like_max_tokens() -> None:
    assert resolve_timing(CONFIG, {"max_completion_tokens": 7}).tokens == 7


def test_max_tokens_at_or_above_the_length_does_not_truncate() -> None:
    timing = resolve_timing(CONFIG, {"max_tokens": 50})
    assert (timing.tokens, timing.truncated) == (50, False)


@pytest.mark.parametrize(
    "body",
    [
        {"simulator_ttft_ms": -1},
        {"simulator_token_ms": "fast"},
        {"simulator_tokens": 0},
        {"simulator_tokens": 2.5},
        {"simulator_tokens": MAX_TOKENS + 1},
        {"max_tokens": 0},
        {"max_tokens": True},
    ],
)
def test_an_invalid_override_is_an_invalid_request(body: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest):
        resolve_timing(CONFIG, body)


@pytest.mark.parametrize(
    "kwargs",
    [{"ttft_ms": -1}, {"token_ms": float("nan")}, {"tokens": 0}, {"retry_after_s": -1}, {"port": 65536}, {"host": ""}],
)
def test_a_config_out_of_range_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SimulatorConfig(**kwargs)


def test_the_flags_build_the_config() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = vars(parser.parse_args(["--port", "0", "--ttft-ms", "200", "--token-ms", "40", "--tokens", "50"]))
    assert options["port"] == 0 and options["host"] == "127.0.0.1"
    assert config_from_options(options) == SimulatorConfig(ttft_ms=200, token_ms=40, tokens=50)
