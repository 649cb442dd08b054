"""``python -m longrun.simulator``: the simulator without Django, with the flags of ``manage.py llm_simulator``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from longrun.simulator.config import add_arguments, config_from_options
from longrun.simulator.server import run


def main(argv: Sequence[str] | None = None) -> None:
    """Called when the package runs as a script: parses the flags and serves until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m longrun.simulator", description="OpenAI-compatible LLM simulator.")
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        config = config_from_options(options)
    except ValueError as exc:
        parser.error(str(exc))
    run(config, options["host"], options["port"])


if __name__ == "__main__":
    main()
