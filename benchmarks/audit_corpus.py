"""Scores the audit against the hand-annotated corpus of real projects (tests/longrun/audit/corpus/*.toml).

Each corpus file names a public repository, a commit and the migration problems found by reading its code. This
script takes each repository from a local bare mirror (``<mirrors>/<owner>+<name>/repo``, or ``<owner>/<name>`` as a
plain clone), extracts the commit into a temporary folder with ``git archive``, audits it with the defaults (no
configuration of its own) and compares:

- found: annotated problems with a finding of the same rule on the same line of the same file;
- missed: the annotated problems without one;
- false alarms: error and warning findings that match no annotation (findings on ``[[ignore]]`` places or in
  ``[[ignore]]`` files, dead code the annotation names, and ``info`` findings are not counted).

    python benchmarks/audit_corpus.py [--mirrors DIR] [--markdown] [--json] [--verbose]

It fetches nothing: make the mirrors first (``git clone --mirror https://github.com/OWNER/NAME.git
DIR/OWNER+NAME/repo``). Projects whose mirror is missing are listed as skipped.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import json
import subprocess
import sys
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from longrun.audit import audit_path  # noqa: E402 (the repository root must be importable first)
from longrun.audit.config import Config  # noqa: E402
from longrun.audit.model import Finding, Severity  # noqa: E402

CORPUS = ROOT / "tests" / "longrun" / "audit" / "corpus"
DEFAULT_MIRRORS = Path("/work/.mirror")
Place = tuple[str, int, str]


@dataclass
class Score:
    """One project's result."""

    name: str
    repo: str
    commit: str
    annotated: list[Place]
    found: list[Place] = field(default_factory=list)
    missed: list[Place] = field(default_factory=list)
    false_alarms: list[Finding] = field(default_factory=list)
    skipped: str = ""
    # Problems added to the annotation after a run had shown them (each says so in its `added` field), and how
    # many dead-code ignores were.
    added: list[Place] = field(default_factory=list)
    added_ignores: int = 0

    @property
    def recall(self) -> float | None:
        return len(self.found) / len(self.annotated) if self.annotated else None


def places(entries: list[dict[str, object]]) -> list[Place]:
    return [(str(e["path"]), int(e["line"]), str(e["rule"])) for e in entries]  # type: ignore[call-overload]


def git_dir(mirrors: Path, repo: str) -> Path | None:
    owner, name = repo.split("/")
    for candidate in (mirrors / f"{owner}+{name}" / "repo", mirrors / owner / name / ".git", mirrors / owner / name):
        if (candidate / "HEAD").is_file():
            return candidate
    return None


# What the audit reads: Python sources and the files that pin Django. (Mirrors may lack large binary blobs.)
READ = ("*.py", "requirements*.txt", "pyproject.toml", "Pipfile", "setup.cfg")


def extract(repository: Path, commit: str, target: Path) -> None:
    """Writes the commit's files the audit reads under ``target``."""
    git = ["git", "--git-dir", str(repository)]
    listing = subprocess.run([*git, "ls-tree", "-r", commit], capture_output=True, text=True, check=True).stdout
    wanted: list[tuple[str, str]] = []
    for line in listing.splitlines():
        meta, _, name = line.partition("\t")
        _mode, kind, blob = meta.split()
        if kind == "blob" and any(fnmatch.fnmatch(Path(name).name, pattern) for pattern in READ):
            wanted.append((blob, name))
    batch = subprocess.run(
        [*git, "cat-file", "--batch"],
        input="".join(f"{blob}\n" for blob, _ in wanted).encode(),
        capture_output=True,
        check=True,
    ).stdout
    stream = io.BytesIO(batch)
    for _blob, name in wanted:
        header = stream.readline().split()
        if len(header) < 3 or header[1] == b"missing":
            continue
        content = stream.read(int(header[2]))
        stream.read(1)  # the newline after each object
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def score(path: Path, mirrors: Path) -> Score:
    data = tomllib.loads(path.read_text())
    problems = data.get("problems", [])
    result = Score(path.stem, data["repo"], data["commit"], places(problems))
    result.added = places([p for p in problems if p.get("added")])
    repository = git_dir(mirrors, data["repo"])
    if repository is None:
        result.skipped = f"no mirror of {data['repo']} under {mirrors}"
        return result
    ignores = data.get("ignore", [])
    result.added_ignores = sum(1 for e in ignores if e.get("added"))
    ignored = set(places([e for e in ignores if "line" in e]))
    # An ignore naming only a path: the whole file is dead code at this commit.
    dead_files = {str(e["path"]) for e in ignores if "line" not in e}
    with tempfile.TemporaryDirectory() as folder:
        extract(repository, data["commit"], Path(folder))
        findings = audit_path(Path(folder), config=Config())
    reported = {(f.path, f.line, f.rule) for f in findings}
    result.found = [p for p in result.annotated if p in reported]
    result.missed = [p for p in result.annotated if p not in reported]
    expected = set(result.annotated) | ignored
    result.false_alarms = [
        f
        for f in findings
        if f.severity != Severity.INFO and (f.path, f.line, f.rule) not in expected and f.path not in dead_files
    ]
    return result


def markdown(scores: list[Score]) -> str:
    lines = [
        "| Project | Commit | Found / annotated | Recall | False alarms | Still missed | Added after a run |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        if s.skipped:
            lines.append(f"| {s.repo} | `{s.commit[:7]}` | skipped: {s.skipped} | | | | |")
            continue
        recall = "-" if s.recall is None else f"{s.recall:.2f}"
        missed = "; ".join(f"{p}:{line} {rule}" for p, line, rule in s.missed) or "-"
        added = "; ".join(f"{p}:{line} {rule}" for p, line, rule in s.added)
        if s.added_ignores:
            added += f"{'; ' if added else ''}{s.added_ignores} dead-code ignore(s)"
        added = added or "-"
        lines.append(
            f"| [{s.repo}](https://github.com/{s.repo}) | `{s.commit[:7]}` | {len(s.found)} / {len(s.annotated)} "
            f"| {recall} | {len(s.false_alarms)} | {missed} | {added} |"
        )
    total_found = sum(len(s.found) for s in scores if not s.skipped)
    total = sum(len(s.annotated) for s in scores if not s.skipped)
    alarms = sum(len(s.false_alarms) for s in scores if not s.skipped)
    late = sum(len(s.added) for s in scores if not s.skipped)
    late_ignores = sum(s.added_ignores for s in scores if not s.skipped)
    recall = f"{total_found / total:.2f}" if total else "-"
    lines.append(
        f"| **all** | | **{total_found} / {total}** | **{recall}** | **{alarms}** | "
        f"| {late} problem(s), {late_ignores} ignore(s) |"
    )
    return "\n".join(lines)


def text(scores: list[Score], verbose: bool) -> str:
    out: list[str] = []
    for s in scores:
        if s.skipped:
            out.append(f"{s.name}: skipped ({s.skipped})")
            continue
        recall = "-" if s.recall is None else f"{s.recall:.2f}"
        out.append(
            f"{s.name} ({s.repo}@{s.commit[:7]}): {len(s.found)}/{len(s.annotated)} found, recall {recall}, "
            f"{len(s.false_alarms)} false alarm(s)"
        )
        if verbose:
            out += [f"    missed {p}:{line} {rule}" for p, line, rule in s.missed]
            out += [f"    (added after a run) {p}:{line} {rule}" for p, line, rule in s.added]
            out += [f"    false alarm {f.path}:{f.line} {f.rule} {f.message}" for f in s.false_alarms]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help="where the bare mirrors are")
    parser.add_argument("--markdown", action="store_true", help="print the table docs/audit.md shows")
    parser.add_argument("--json", action="store_true", help="print every score as JSON")
    parser.add_argument("--verbose", "-v", action="store_true", help="list what was missed and the false alarms")
    options = parser.parse_args(argv)
    scores = [score(path, options.mirrors) for path in sorted(CORPUS.glob("*.toml"))]
    if options.json:
        print(
            json.dumps(
                [
                    {
                        "project": s.repo,
                        "commit": s.commit,
                        "annotated": len(s.annotated),
                        "found": len(s.found),
                        "missed": [list(p) for p in s.missed],
                        "added_after_a_run": [list(p) for p in s.added],
                        "ignores_added_after_a_run": s.added_ignores,
                        "false_alarms": [f.as_dict() for f in s.false_alarms],
                        "skipped": s.skipped,
                    }
                    for s in scores
                ],
                indent=2,
            )
        )
    elif options.markdown:
        print(markdown(scores))
    else:
        print(text(scores, options.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
