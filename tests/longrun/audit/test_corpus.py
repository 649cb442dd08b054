"""The corpus of annotated real projects and the script that scores the audit against it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from longrun.audit import RULES

ROOT = Path(__file__).resolve().parents[3]
CORPUS = ROOT / "tests" / "longrun" / "audit" / "corpus"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_corpus", ROOT / "benchmarks" / "audit_corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_corpus"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.toml")), ids=lambda p: p.stem)
def test_each_annotation_names_a_commit_and_places_each_problem_with_a_known_rule_and_a_reason(path: Path):
    data = tomllib.loads(path.read_text())
    assert set(data) >= {"repo", "commit", "shape", "annotated"}
    assert len(data["commit"]) == 40
    for entry in [*data.get("problems", []), *data.get("ignore", [])]:
        assert entry["path"].endswith(".py") and entry["why"].strip(), entry
        assert set(entry) <= {"path", "line", "rule", "why", "added"}, entry
        if "line" in entry or entry in data.get("problems", []):  # an ignore may name a whole (dead) file
            assert entry["rule"] in RULES and entry["line"] > 0, entry


def test_the_corpus_has_ten_projects_or_more():
    assert len(list(CORPUS.glob("*.toml"))) >= 10


def git(folder: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_the_score_counts_found_missed_and_false_alarms_at_the_annotated_commit(tmp_path: Path):
    script = load_script()
    repository = tmp_path / "mirrors" / "someone" / "chat"
    repository.mkdir(parents=True)
    git(repository, "init", "-q")
    (repository / "views.py").write_text(
        "import time\n"
        "from django.http import JsonResponse\n"
        "from openai import OpenAI\n"
        "client = OpenAI(timeout=30)\n"
        "def answer(request):\n"
        "    return JsonResponse({'a': str(client.chat.completions.create(model='m', messages=[]))})\n"
        "async def wait(request):\n"
        "    time.sleep(1)\n"
        "    return JsonResponse({})\n"
    )
    git(repository, "add", ".")
    git(repository, "commit", "-q", "-m", "one")
    commit = git(repository, "rev-parse", "HEAD")
    (repository / "views.py").write_text("")  # later commits are not what is scored
    git(repository, "commit", "-q", "-am", "two")
    annotation = tmp_path / "chat.toml"
    annotation.write_text(
        f'repo = "someone/chat"\ncommit = "{commit}"\n'
        '[[problems]]\npath = "views.py"\nline = 6\nrule = "LR201"\nwhy = "a sync view waits on the LLM"\n'
        '[[problems]]\npath = "views.py"\nline = 3\nrule = "LR101"\nwhy = "(planted: never reported)"\n'
    )
    score = script.score(annotation, tmp_path / "mirrors")
    assert score.found == [("views.py", 6, "LR201")]
    assert score.missed == [("views.py", 3, "LR101")]
    assert [(f.path, f.line, f.rule) for f in score.false_alarms] == [("views.py", 8, "LR102")]
    assert score.recall == 0.5
    table = script.markdown([score])
    assert "| 1 / 2 | 0.50 | 1 | views.py:3 LR101 | - |" in table


def test_a_project_without_a_mirror_is_skipped_not_failed(tmp_path: Path):
    script = load_script()
    annotation = tmp_path / "gone.toml"
    annotation.write_text('repo = "someone/gone"\ncommit = "' + "0" * 40 + '"\n')
    assert "no mirror" in script.score(annotation, tmp_path).skipped
