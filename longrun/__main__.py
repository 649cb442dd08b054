"""``longrun COMMAND`` (the console script) and ``python -m longrun COMMAND``: the toolkit's commands that need
no Django project.

    longrun audit PATH [PATH ...] [--format text|json|sarif] [--select RULES] [--ignore RULES] [--fix]
    longrun simulator [--host H] [--port P] [--ttft-ms MS] [--token-ms MS] [--tokens N] ...

In a Django project the same are ``manage.py asgi_audit`` and ``manage.py llm_simulator``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from importlib import metadata

COMMANDS = {
    "audit": "read a Django source tree and report what blocks or breaks under ASGI (docs/audit.md)",
    "simulator": "serve the OpenAI-compatible LLM simulator; needs the [simulator] extra (docs/simulator.md)",
}


def usage(prog: str) -> str:
    lines = [f"usage: {prog} COMMAND [ARGS ...]", "", "commands:"]
    lines += [f"  {name:<10} {summary}" for name, summary in COMMANDS.items()]
    lines += ["", f"`{prog} COMMAND --help` describes a command's options; `{prog} --version` prints the version."]
    return "\n".join(lines)


def version() -> str:
    try:
        return metadata.version("longrun")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch on the first argument; the exit status is the command's (2 for bad usage)."""
    args = list(sys.argv[1:] if argv is None else argv)
    prog = "python -m longrun" if argv is None and sys.argv[0].endswith("__main__.py") else "longrun"
    if args and args[0] in {"-h", "--help"}:
        print(usage(prog))
        return 0
    if args and args[0] == "--version":
        print(f"longrun {version()}")
        return 0
    if not args or args[0] not in COMMANDS:
        print(usage(prog), file=sys.stderr)
        wrong = f"unknown command {args[0]!r}" if args else "a command is required"
        print(f"{prog}: error: {wrong}: choose one of {', '.join(COMMANDS)}.", file=sys.stderr)
        return 2
    return _command(args[0])(args[1:], f"{prog} {args[0]}")


def _command(name: str) -> Callable[[list[str], str], int]:
    """The entry point of a command, imported only when it runs (each needs only its own dependencies)."""
    if name == "audit":
        from longrun.audit.cli import main as audit_main

        return lambda args, prog: audit_main(args)
    from longrun.simulator.__main__ import main as simulator_main

    return lambda args, prog: simulator_main(args, prog=prog)


if __name__ == "__main__":
    sys.exit(main())
