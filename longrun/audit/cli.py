"""The audit's front door for ``python -m longrun audit`` and ``manage.py asgi_audit``: options in, exit status out."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, TextIO

from longrun.audit import reporters
from longrun.audit.engine import audit_path
from longrun.audit.model import Finding, select_rules
from longrun.extras import MissingExtra


class Writer(Protocol):
    """Where the report goes: a text stream, or a management command's stdout wrapper."""

    def write(self, text: str, /) -> object: ...


class UsageError(Exception):
    """Raised for bad usage (unknown rule, missing path): the caller prints it and exits with status 2."""


def add_arguments(parser: argparse.ArgumentParser, *, paths_required: bool) -> None:
    """Called by both front ends: the same options, PATH required only without a Django project."""
    parser.add_argument(
        "paths",
        nargs="+" if paths_required else "*",
        metavar="PATH",
        help="source trees (or files) to audit" + ("" if paths_required else "; default: BASE_DIR"),
    )
    parser.add_argument("--format", choices=["text", "json"], default="text", help="output format (default: text)")
    parser.add_argument("--select", metavar="RULES", help="comma-separated rule ids or prefixes, e.g. LR1,LR403")
    parser.add_argument("--fix", action="store_true", help="apply the safe rewrites, print their diff, report the rest")


def run(paths: Sequence[str], *, output_format: str, select: str | None, fix: bool, out: Writer) -> int:
    """Called once per invocation: audits (and fixes) each path, prints the report, returns the exit status."""
    try:
        chosen = select_rules(select)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    roots = [Path(p) for p in paths]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise UsageError(f"No such file or directory: {', '.join(missing)}. Give the path of a Django source tree.")
    findings: list[Finding] = []
    for root in roots:
        if fix:
            try:
                from longrun.audit.fix import fix_tree  # libcst is needed for --fix only
            except ImportError:
                raise UsageError(str(MissingExtra("--fix", "fix", "libcst"))) from None

            diff = fix_tree(root, chosen)
            # JSON output must stay one parseable document, so the diff is printed with the text report only.
            if diff and output_format == "text":
                out.write(diff + "\n")
        findings += audit_path(root, chosen)
    out.write(reporters.as_json(findings) if output_format == "json" else reporters.text(findings))
    return reporters.exit_status(findings)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Called by ``python -m longrun audit``: parses the options and runs the audit without Django settings."""
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m longrun audit", description="Audit a Django source tree for what blocks or breaks under ASGI."
    )
    add_arguments(parser, paths_required=True)
    options = parser.parse_args(argv)
    try:
        return run(
            options.paths, output_format=options.format, select=options.select, fix=options.fix, out=out or sys.stdout
        )
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
