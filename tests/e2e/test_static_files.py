"""With DEBUG off, after collectstatic, every server serves the page and its static files (ServeStatic)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import urllib.request

import pytest

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def production_env(e2e_env, tmp_path_factory) -> dict[str, str]:
    env = {
        **e2e_env,
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": "test-secret-key-for-static-files-only-0123456789",
        "DJANGO_STATIC_ROOT": str(tmp_path_factory.mktemp("static")),
    }
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    return env


def get(url: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=30) as reply:
        return reply.status, reply.read(), reply.headers.get("Content-Type", "")


@pytest.mark.parametrize("name", ["daphne", "uvicorn", "granian", "gunicorn", "runserver"])
def test_each_server_serves_the_page_and_its_hashed_static_files(server, production_env, name):
    with server(name, production_env) as base:
        status, html, _ = get(base + "/")
        assert status == 200
        assets = re.findall(rb'(?:src|href)="(/static/[^"]+)"', html)
        assert assets, "the page links its script, style and icon"
        for asset in assets:
            assert re.search(rb"\.[0-9a-f]{12}\.(js|css|ico)$", asset), f"{asset!r} is not the hashed, collected file"
            status, body, content_type = get(base + asset.decode())
            assert status == 200 and body
            assert content_type.split(";")[0] in {
                "text/javascript",
                "application/javascript",
                "text/css",
                "image/x-icon",
                "image/vnd.microsoft.icon",
            }
        # Where browsers look by themselves: a redirect to the hashed file (urllib follows it).
        status, icon, content_type = get(base + "/favicon.ico")
        assert status == 200 and icon.startswith(b"\x00\x00\x01\x00") and content_type.startswith("image/")


def test_start_up_stops_with_a_clear_message_when_debug_is_off_and_no_key_is_set():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    env.update({"DJANGO_SETTINGS_MODULE": "project.settings", "DJANGO_DEBUG": "false"})
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off" in result.stderr
