"""The toolkit is installable on its own: it never imports the demo project."""

import ast
from pathlib import Path

LONGRUN = Path(__file__).resolve().parent.parent / "longrun"


def test_longrun_imports_nothing_from_the_demo_project():
    offenders = []
    for path in LONGRUN.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [
                f"{path.relative_to(LONGRUN.parent)}: {n}" for n in names if n.split(".")[0] in {"llm_app", "project"}
            ]
    assert offenders == []
