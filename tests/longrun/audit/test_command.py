"""``manage.py asgi_audit``: the same audit from inside a Django project."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.longrun.audit.conftest import CORRECT, PLANTED


def test_a_clean_path_prints_no_findings_and_returns():
    out = StringIO()
    call_command("asgi_audit", str(CORRECT), stdout=out)
    assert out.getvalue().startswith("No findings")


def test_findings_exit_with_status_1():
    out = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("asgi_audit", str(PLANTED), "--select", "LR102", "--format", "json", stdout=out)
    assert exited.value.code == 1
    assert [item["rule"] for item in json.loads(out.getvalue())] == ["LR102"]


def test_an_unknown_rule_is_a_command_error_with_status_2():
    with pytest.raises(CommandError, match="Unknown rule") as raised:
        call_command("asgi_audit", str(CORRECT), "--select", "NOPE")
    assert raised.value.returncode == 2


def test_without_a_path_it_audits_base_dir(settings, tmp_path):
    (tmp_path / "views.py").write_text("import time\n\nasync def view(request):\n    time.sleep(1)\n")
    settings.BASE_DIR = tmp_path
    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("asgi_audit", "--format", "json", stdout=out)
    assert [(item["rule"], item["path"]) for item in json.loads(out.getvalue())] == [("LR102", "views.py")]
