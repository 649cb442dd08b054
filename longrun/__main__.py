"""``python -m longrun audit PATH``: the toolkit's commands that need no Django project."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = (
    "usage: python -m longrun audit PATH [PATH ...] [--format text|json|sarif] [--select RULES] [--ignore RULES] "
    "[--fix] [--isolated]"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Called when the package runs as a script: dispatches on the first argument."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "audit":
        print(USAGE, file=sys.stderr)
        print(
            "python -m longrun: error: the only command is `audit` (the simulator is `python -m longrun.simulator`).",
            file=sys.stderr,
        )
        return 2
    from longrun.audit.cli import main as audit_main

    return audit_main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
