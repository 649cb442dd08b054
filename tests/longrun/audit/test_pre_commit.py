"""``.pre-commit-hooks.yaml``: the hook pre-commit users point at runs the audit once over the whole tree."""

from __future__ import annotations

import yaml

from tests.longrun.audit.conftest import REPO


def test_the_hook_runs_the_audit_over_the_repository_once_per_commit():
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "longrun-audit"
    assert hook["entry"] == "python -m longrun audit ."
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False and hook["always_run"] is True
