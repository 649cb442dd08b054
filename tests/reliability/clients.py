"""Blocking clients for the reliability tests: one JSON POST, one SSE stream, one WebSocket prompt, as a user sees them.

Each returns an ``Outcome`` and raises only for what no user could see (a refused connection is an outcome).
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from longrun.loadgen.sse import iter_events


@dataclass
class Outcome:
    """What the client got: the status, how the reply ended, the tokens before that, and when."""

    status: int | None
    end: str  # "reply" (a JSON body), "done", "error", "closed" (ended with neither)
    tokens: list[str] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0
    first_token_s: float | None = None

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    @property
    def message(self) -> str:
        error = self.body.get("error")
        return str(error["message"] if isinstance(error, dict) else self.body.get("message", ""))


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout), parts.path


def post_json(url: str, payload: dict[str, Any], *, timeout: float = 60.0) -> Outcome:
    started = time.monotonic()
    connection, path = _connection(url, timeout)
    try:
        connection.request("POST", path, json.dumps(payload), {"Content-Type": "application/json"})
        response = connection.getresponse()
        body = json.loads(response.read())
    finally:
        connection.close()
    ok = response.status == 200
    return Outcome(
        status=response.status,
        end="reply" if ok else "error",
        tokens=[body["content"]] if ok and body.get("content") else [],
        body=body,
        headers={k.lower(): v for k, v in response.getheaders()},
        elapsed=time.monotonic() - started,
    )


def post_sse(url: str, payload: dict[str, Any], *, timeout: float = 60.0) -> Outcome:
    started = time.monotonic()
    connection, path = _connection(url, timeout)
    outcome = Outcome(status=None, end="closed")
    try:
        connection.request("POST", path, json.dumps(payload), {"Content-Type": "application/json"})
        response = connection.getresponse()
        outcome.status = response.status
        outcome.headers = {k.lower(): v for k, v in response.getheaders()}
        if response.status != 200:
            outcome.body, outcome.end = json.loads(response.read()), "error"
            return outcome
        for event in iter_events(raw.decode() for raw in response):
            data = event.json()
            if event.event == "token":
                outcome.first_token_s = outcome.first_token_s or time.monotonic() - started
                outcome.tokens.append(data["text"])
            else:
                outcome.body, outcome.end = data, event.event
                break
    except (http.client.IncompleteRead, ConnectionError):
        outcome.end = "closed"
    finally:
        connection.close()
        outcome.elapsed = time.monotonic() - started
    return outcome


def ws_prompt(ws_url: str, payload: dict[str, Any], *, origin: str, timeout: float = 60.0) -> Outcome:
    started = time.monotonic()
    outcome = Outcome(status=101, end="closed")
    with connect(ws_url, origin=origin, open_timeout=timeout, proxy=None) as socket:  # type: ignore[arg-type]
        socket.send(json.dumps({"type": "prompt", "id": "g", **payload}))
        try:
            while True:
                message = json.loads(socket.recv(timeout=timeout))
                if message["type"] == "token":
                    outcome.first_token_s = outcome.first_token_s or time.monotonic() - started
                    outcome.tokens.append(message["text"])
                elif message["type"] != "started":  # "started" announces the call; its tokens follow
                    outcome.body, outcome.end = message, message["type"]
                    break
        except ConnectionClosed:
            outcome.end = "closed"
    outcome.elapsed = time.monotonic() - started
    return outcome
