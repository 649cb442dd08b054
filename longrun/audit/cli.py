"""The audit's front door for ``python -m longrun audit`` and ``manage.py asgi_audit``: options in, exit status out."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, TextIO

from longrun.audit import reporters
from longrun.audit.config import Config, ConfigError, find_config
from longrun.audit.engine import audit_path
from longrun.audit.model import Finding
from longrun.extras import MissingExtra

FORMATS = ("text", "json", "sarif")


class Writer(Protocol):
    """Where the report goes: a text stream, or a management command's stdout wrapper."""

    def write(self, text: str, /) -> object: ...


class UsageError(Exception):
    """Bad usage (unknown rule, missing path, unusable configuration): printed, then exit status 2."""


def add_arguments(parser: argparse.ArgumentParser, *, paths_required: bool) -> None:
    """The same options for both front ends; PATH is required only without a Django project."""
    parser.add_argument(
        "paths",
        nargs="+" if paths_required else "*",
        metavar="PATH",
        help="source trees (or files) to audit" + ("" if paths_required else "; default: BASE_DIR"),
    )
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("--select", metavar="RULES", help="comma-separated rule ids or prefixes, e.g. LR1,LR403")
    parser.add_argument("--ignore", metavar="RULES", help="comma-separated rule ids or prefixes to leave out")
    parser.add_argument("--fix", action="store_true", help="apply the safe rewrites, print their diff, report the rest")
    parser.add_argument(
        "--isolated", action="store_true", help="ignore [tool.longrun.audit] in pyproject.toml (use the defaults)"
    )


def run(
    paths: Sequence[str],
    *,
    output_format: str,
    select: str | None,
    fix: bool,
    out: Writer,
    ignore: str | None = None,
    isolated: bool = False,
) -> int:
    """Audits (and fixes) each path, prints the report, returns the exit status."""
    roots = [Path(p) for p in paths]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise UsageError(f"No such file or directory: {', '.join(missing)}. Give the path of a Django source tree.")
    findings: list[Finding] = []
    sarif_findings: list[Finding] = []
    for root in roots:
        try:
            config = Config() if isolated else find_config(root)
            chosen = config.rules(select, ignore)
        except (ConfigError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        if fix:
            try:
                from longrun.audit.fix import fix_tree  # libcst is needed for --fix only
            except ImportError:
                raise UsageError(str(MissingExtra("--fix", "fix", "libcst"))) from None
            result = fix_tree(root, chosen, config=config)
            # JSON and SARIF output must stay one parseable document: the diff goes with the text report only.
            if output_format == "text":
                out.write(result.report(root) + "\n")
        found = audit_path(root, chosen, config=config)
        findings += found
        base = _base(root)
        sarif_findings += [_rebased(f, base) for f in found]
    if output_format == "json":
        out.write(reporters.as_json(findings))
    elif output_format == "sarif":
        out.write(reporters.sarif(sarif_findings))
    else:
        out.write(reporters.text(findings))
    return reporters.exit_status(findings)


def _base(root: Path) -> str:
    """The audited folder relative to the working directory, for SARIF locations that resolve from the checkout."""
    folder = root if root.is_dir() else root.parent
    try:
        rel = Path(os.path.relpath(folder.resolve(), Path.cwd())).as_posix()
    except ValueError:
        return ""
    return "" if rel == "." or rel.startswith("..") else rel + "/"


def _rebased(finding: Finding, base: str) -> Finding:
    from dataclasses import replace

    return replace(finding, path=base + finding.path) if base else finding


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """``python -m longrun audit``: parses the options and runs the audit without Django settings."""
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m longrun audit", description="Audit a Django source tree for what blocks or breaks under ASGI."
    )
    add_arguments(parser, paths_required=True)
    options = parser.parse_args(argv)
    try:
        return run(
            options.paths,
            output_format=options.format,
            select=options.select,
            ignore=options.ignore,
            fix=options.fix,
            isolated=options.isolated,
            out=out or sys.stdout,
        )
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
