"""``python -m longrun.simulator`` (and ``longrun simulator``): the simulator without Django, with the flags of
``manage.py llm_simulator``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from longrun.extras import MissingExtra
from longrun.simulator.config import add_arguments, config_from_options


def main(argv: Sequence[str] | None = None, prog: str = "python -m longrun.simulator") -> int:
    """Parse the flags and serve until SIGINT/SIGTERM; 2 on bad flags or a missing extra."""
    parser = argparse.ArgumentParser(prog=prog, description="OpenAI-compatible LLM simulator.")
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        config = config_from_options(options)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        from longrun.simulator.server import run
    except MissingExtra as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
