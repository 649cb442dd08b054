"""Call an ASGI application in-process, through its real entry point: the path a server takes, for tests.

Django's ``AsyncClient`` calls Django's test handler, not your ``asgi.py`` application: it runs no ASGI
middleware and sends the request signals its own way, so what it shows about thread hops is not what a server
sees. ``asgi_request`` calls the application object itself, as an ASGI server would, and returns once the
application has returned (its closing work included), so that ``longrun.hops.count_hops()`` around it counts
everything the request cost::

    from longrun.hops import no_hops
    from longrun.testing import asgi_request
    from project.asgi import application

    async def test_the_async_view_holds_no_thread():
        with no_hops():
            response = await asgi_request(application, "POST", "/api/async/complete", json={"prompt": "Hi"})
        assert response.status == 200
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]], Callable[..., Awaitable[None]]], Any]


@dataclass(frozen=True, slots=True)
class ASGIResponse:
    """What the application sent: the status, the headers (bytes, as sent) and the whole body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        wanted = name.lower().encode("latin-1")
        return next((value.decode("latin-1") for key, value in self.headers if key.lower() == wanted), None)

    def header_list(self, name: str) -> list[str]:
        """Every value of header ``name`` (Set-Cookie comes once per cookie)."""
        wanted = name.lower().encode("latin-1")
        return [value.decode("latin-1") for key, value in self.headers if key.lower() == wanted]

    def json(self) -> Any:
        return jsonlib.loads(self.body)


def http_scope(
    method: str,
    path: str,
    *,
    headers: Iterable[tuple[str, str]] = (),
    query_string: str = "",
    scheme: str = "http",
    host: str = "127.0.0.1",
) -> dict[str, Any]:
    """An ASGI ``http`` scope as a server builds it; ``headers`` are (name, value) strings."""
    raw_headers = [(b"host", host.encode("latin-1"))]
    raw_headers += [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query_string.encode(),
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": (host, 443 if scheme == "https" else 80),
    }


async def asgi_request(
    application: ASGIApp,
    method: str,
    path: str,
    *,
    json: Any = None,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] = (),
    query_string: str = "",
    scheme: str = "http",
    timeout: float = 30.0,
) -> ASGIResponse:
    """Sends one request to ``application`` and returns its response once the application has returned.

    ``json`` (any JSON value) is sent as the body with ``Content-Type: application/json``. The client stays
    connected until the response is complete, then disconnects, as a browser does.
    """
    headers = list(headers)
    if json is not None:
        body = jsonlib.dumps(json).encode()
        headers.append(("content-type", "application/json"))
    if body:
        headers.append(("content-length", str(len(body))))
    scope = http_scope(method, path, headers=headers, query_string=query_string, scheme=scheme)
    complete = asyncio.Event()
    request_sent = False
    start: dict[str, Any] = {}
    parts: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal request_sent
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await complete.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            parts.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                complete.set()

    await asyncio.wait_for(application(scope, receive, send), timeout)
    if not start:
        raise AssertionError(f"{method} {path}: the application returned without sending a response.")
    return ASGIResponse(status=int(start["status"]), headers=list(start.get("headers", [])), body=b"".join(parts))
