"""Security through a real daphne with DEBUG off and auth on: origins, sessions, CSRF, staff only, no leaks.

The server runs as deployed (``DJANGO_DEBUG=false``, collected static files, ``LLM_REQUIRE_AUTH=true``) with an
API key that must never show: each test reads the error bodies it gets, and the last one reads everything the
server logged.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from llm_app import servers as demo_servers
from longrun import servers
from tests.reliability.conftest import ROOT, Upstream, server_env

pytestmark = pytest.mark.e2e

API_KEY = "sk-canary-7d1f0e5b9a2c4f"
PASSWORDS = {"ada": "ada-passphrase-1", "staff": "staff-passphrase-2"}


@dataclass
class Deployed:
    url: str
    log: Path
    env: dict[str, str]

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://")


@pytest.fixture(scope="module")
def deployed(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    scratch = tmp_path_factory.mktemp("security")
    env = server_env(
        scratch / "db.sqlite3",
        LLM_BASE_URL=upstream.url,
        LLM_API_KEY=API_KEY,
        LLM_REQUIRE_AUTH="true",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="security-test-" + "k" * 40,
        DJANGO_STATIC_ROOT=str(scratch / "static"),
        DJANGO_LOG_LEVEL="INFO",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    create_users = (
        "from django.contrib.auth.models import User;"
        f"User.objects.create_user('ada', password={PASSWORDS['ada']!r});"
        f"User.objects.create_user('staff', password={PASSWORDS['staff']!r}, is_staff=True)"
    )
    subprocess.run([*manage, "shell", "-c", create_users], cwd=ROOT, env=env, check=True)
    port = servers.free_port()
    argv, extra = demo_servers.server_command("daphne", host="127.0.0.1", port=port)
    log = scratch / "daphne.log"
    with log.open("w") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env={**env, **extra}, stdout=out, stderr=subprocess.STDOUT)
    try:
        servers.wait_until_listening("127.0.0.1", port, process)
        yield Deployed(url=f"http://127.0.0.1:{port}", log=log, env=env)
    finally:
        servers.stop_process(process)


class Browser:
    """A client that keeps its cookies; ``log_in`` gives it a session as Django's login would."""

    def __init__(self, deployed: Deployed) -> None:
        self.deployed = deployed
        self.base = deployed.url
        self.cookies: dict[str, str] = {}

    def cookie(self, name: str) -> str | None:
        return self.cookies.get(name)

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def request(self, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, dict, bytes]:
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        parts = urllib.parse.urlsplit(self.base)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            content = response.read()
        finally:
            connection.close()
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return response.status, dict(response.headers), content

    def log_in(self, username: str) -> Browser:
        """Logs in through the site's own login form, as a person would; then the CSRF cookie from the chat page."""
        status, _, _ = self.request("GET", "/accounts/login/")
        assert status == 200 and self.cookie("csrftoken")
        form = urllib.parse.urlencode(
            {"username": username, "password": PASSWORDS[username], "csrfmiddlewaretoken": self.cookie("csrftoken")}
        )
        status, headers, _ = self.request(
            "POST",
            "/accounts/login/",
            form.encode(),
            **{"Content-Type": "application/x-www-form-urlencoded", "Referer": self.base + "/accounts/login/"},
        )
        assert status == 302 and headers["Location"] == "/" and self.cookie("sessionid"), status
        status, _, _ = self.request("GET", "/")
        assert status == 200
        return self


def post_prompt(browser: Browser, path: str, *, csrf: bool) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json"}
    if csrf:
        headers["X-CSRFToken"] = browser.cookie("csrftoken") or ""
        headers["Referer"] = browser.base + "/"
    status, _, body = browser.request("POST", path, json.dumps({"prompt": "Hello"}).encode(), **headers)
    return status, body


def test_a_socket_from_a_foreign_origin_is_refused_at_the_handshake(deployed: Deployed) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(deployed.ws + "/ws/chat/", origin="http://evil.example", proxy=None).close()  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403


def test_a_socket_without_a_logged_in_session_is_refused_at_the_handshake(deployed: Deployed) -> None:
    # The consumer closes before accepting (code 4401 in-process); a real server turns that into a 403.
    with pytest.raises(InvalidStatus) as refused:
        connect(deployed.ws + "/ws/chat/", origin=deployed.url, proxy=None).close()  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403


def test_a_logged_in_socket_from_the_allowed_origin_is_served(deployed: Deployed) -> None:
    browser = Browser(deployed).log_in("ada")
    headers = {"Cookie": browser.cookie_header()}
    with connect(
        deployed.ws + "/ws/chat/",
        origin=deployed.url,  # type: ignore[arg-type]
        additional_headers=headers,
        proxy=None,
    ) as socket:
        socket.send(json.dumps({"type": "prompt", "id": "a", "prompt": "Hi", "max_tokens": 2}))
        kinds = []
        while not kinds or kinds[-1] not in {"done", "error"}:
            kinds.append(json.loads(socket.recv(timeout=10))["type"])
    assert kinds == ["started", "token", "token", "done"]


@pytest.mark.parametrize("path", ["/api/sync/complete", "/api/async/complete", "/api/async/stream"])
def test_an_anonymous_post_is_401(deployed: Deployed, path: str) -> None:
    status, body = post_prompt(Browser(deployed), path, csrf=False)
    assert status == 401
    assert "Log in" in json.loads(body)["error"]["message"]


@pytest.mark.parametrize("path", ["/api/sync/complete", "/api/async/complete", "/api/async/stream"])
def test_a_session_post_needs_the_csrf_token(deployed: Deployed, path: str) -> None:
    browser = Browser(deployed).log_in("ada")
    status, body = post_prompt(browser, path, csrf=False)
    assert status == 403
    assert "X-CSRFToken" in json.loads(body)["error"]["message"]
    status, _ = post_prompt(browser, path, csrf=True)
    assert status == 200


def test_the_dashboard_and_its_socket_are_for_staff_only(deployed: Deployed) -> None:
    anonymous = Browser(deployed)
    status, headers, _ = anonymous.request("GET", "/admin/dashboard/")
    assert status == 302 and "/admin/login/" in headers["Location"]
    member = Browser(deployed).log_in("ada")
    status, headers, _ = member.request("GET", "/admin/dashboard/")
    assert status == 302 and "/admin/login/" in headers["Location"]
    with pytest.raises(InvalidStatus) as refused:
        connect(
            deployed.ws + "/ws/admin/dashboard/",
            origin=deployed.url,  # type: ignore[arg-type]
            additional_headers={"Cookie": member.cookie_header()},
            proxy=None,
        ).close()
    assert refused.value.response.status_code == 403
    staff = Browser(deployed).log_in("staff")
    status, _, _ = staff.request("GET", "/admin/dashboard/")
    assert status == 200


def raw_request(url: str, method: str, path: str, body: bytes = b"", **headers: str) -> tuple[int, bytes]:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body, headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_no_error_body_and_no_log_line_shows_the_api_key_or_a_stack_trace(deployed: Deployed) -> None:
    browser = Browser(deployed).log_in("ada")
    token = {"X-CSRFToken": browser.cookie("csrftoken") or "", "Cookie": browser.cookie_header()}
    json_type = {"Content-Type": "application/json"}
    bodies = [
        raw_request(deployed.url, "POST", "/api/async/complete", b"{not json", **json_type, **token),
        raw_request(deployed.url, "POST", "/api/sync/complete", b"\xff\xfe", **json_type, **token),
        raw_request(deployed.url, "GET", "/api/async/complete"),
        raw_request(deployed.url, "GET", "/no/such/page/"),
        raw_request(deployed.url, "GET", "/", Host="evil.example"),
        raw_request(deployed.url, "POST", "/api/async/complete", b"x" * 3_000_000, **json_type, **token),
    ]
    for path in ["/api/sync/complete", "/api/async/complete", "/api/async/stream", "/api/sync/stream"]:
        for fault in ["[fault:500]", "[fault:malformed]", "[fault:cut]"]:
            payload = json.dumps({"prompt": f"leak? {fault}"}).encode()
            bodies.append(raw_request(deployed.url, "POST", path, payload, **json_type, **token))
    statuses = [status for status, _ in bodies]
    assert statuses[:6] == [400, 400, 401, 404, 400, 413]  # a GET without a session: 401 comes before 405
    assert all(status < 500 or status in {502, 503, 504} for status in statuses)
    for status, body in bodies:
        text = body.decode(errors="replace")
        assert API_KEY not in text and "Traceback" not in text, (status, text[:500])
    log = deployed.log.read_text()
    assert "HTTP Request: POST" in log, "the server logged its upstream requests: the log is the right one"
    assert API_KEY not in log
    assert "Traceback" not in log, log[-3000:]
    assert os.environ.get("LLM_API_KEY") != API_KEY
