"""One request of each kind the demo app serves, timed: a JSON ``complete``, an SSE ``stream``, a WebSocket prompt.

Each returns a ``RequestResult`` and never raises for a failed request: the failure is recorded as an error kind,

- ``http_<status>``: the server answered with a status other than 200 (``http_502``, ``http_403`` for a refused
  WebSocket handshake, ...);
- ``connect``: no connection (refused, reset or closed before a reply started);
- ``timeout``: the request took longer than the session's (or the call's) timeout;
- ``incomplete``: the reply started but ended before its ``done`` (a stream cut short, a socket closed);
- ``llm_error``: the app reported an upstream failure in band (an ``error`` event or message);
- ``reply_<status>``: the reply ended but its ``status`` field was not ``complete`` (``reply_cancelled``);
- ``protocol``: the reply could not be understood (not JSON, an unknown event, a bad frame).

Times are ``time.perf_counter()`` seconds; ``ttft_s`` is the time from the start of the request to the first
token (for a JSON reply, to the whole reply), ``total_s`` to the end of the reply or the failure.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from longrun.extras import MissingExtra

try:
    import aiohttp
except ImportError as exc:
    raise MissingExtra("The load generator (longrun.loadgen)", "loadgen", "aiohttp") from exc

from longrun.loadgen.sse import aiter_events

Kind = Literal["json", "sse", "websocket"]
KINDS: tuple[Kind, ...] = ("json", "sse", "websocket")

# Generous: a request may wait in a server's queue behind thousands of others before its LLM call starts.
DEFAULT_TIMEOUT_S = 600.0
DEFAULT_CONNECT_TIMEOUT_S = 60.0

_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class RequestResult:
    """One request, as the user saw it."""

    kind: Kind
    ok: bool
    error: str | None  # one of the kinds in the module docstring; None when ok
    status: int | None  # the HTTP status (101 for an accepted WebSocket); None when none arrived
    started: float  # perf_counter() when the request was sent
    ttft_s: float | None  # first token (JSON: the whole reply); None when no token arrived
    total_s: float
    tokens: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_session(
    concurrency: int, *, timeout_s: float = DEFAULT_TIMEOUT_S, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
) -> aiohttp.ClientSession:
    """The one session a run shares: a connection per user, none refused by a pool limit, generous timeouts."""
    connector = aiohttp.TCPConnector(limit=max(concurrency, 1), limit_per_host=0, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=connect_timeout_s)
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


class _Timer:
    """The clock of one request: its start, its first token, its token count."""

    def __init__(self, kind: Kind) -> None:
        self.kind: Kind = kind
        self.started = time.perf_counter()
        self.first: float | None = None
        self.tokens = 0
        self.status: int | None = None

    def token(self) -> None:
        if self.first is None:
            self.first = time.perf_counter()
        self.tokens += 1

    def result(self, error: str | None, *, ttft_s: float | None = None, tokens: int | None = None) -> RequestResult:
        end = time.perf_counter()
        if ttft_s is None and self.first is not None:
            ttft_s = self.first - self.started
        return RequestResult(
            kind=self.kind,
            ok=error is None,
            error=error,
            status=self.status,
            started=self.started,
            ttft_s=ttft_s,
            total_s=end - self.started,
            tokens=self.tokens if tokens is None else tokens,
        )


def _reply_error(reply: Mapping[str, Any]) -> str | None:
    """A ``done`` reply or JSON body whose status is not ``complete`` (``error``, ``cancelled``) failed."""
    status = reply.get("status", "complete")
    return None if status == "complete" else f"reply_{status}"


def _exception_kind(exc: BaseException) -> str:
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "incomplete"
    if isinstance(exc, (aiohttp.ClientConnectionError, ConnectionError, OSError)):
        return "connect"
    return "protocol"


async def post_json(session: aiohttp.ClientSession, url: str, payload: Mapping[str, Any]) -> RequestResult:
    """POSTs to a ``complete`` endpoint; the whole reply is the first token, ``tokens`` is the reply's count."""
    timer = _Timer("json")
    try:
        async with session.post(url, json=dict(payload)) as response:
            timer.status = response.status
            body = await response.read()
            if response.status != 200:
                return timer.result(f"http_{response.status}")
            reply = json.loads(body)
            if not isinstance(reply, dict) or not isinstance(reply.get("tokens"), int):
                return timer.result("protocol")
            ttft = time.perf_counter() - timer.started
            return timer.result(_reply_error(reply), ttft_s=ttft, tokens=reply["tokens"])
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return timer.result("protocol")
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        return timer.result(_exception_kind(exc))


async def post_sse(session: aiohttp.ClientSession, url: str, payload: Mapping[str, Any]) -> RequestResult:
    """POSTs to a ``stream`` endpoint and reads its events as they come: a token per ``token`` event."""
    timer = _Timer("sse")
    try:
        async with session.post(url, json=dict(payload), headers={"Accept": "text/event-stream"}) as response:
            timer.status = response.status
            if response.status != 200:
                await response.read()
                return timer.result(f"http_{response.status}")
            async for event in aiter_events(response.content):
                if event.event == "token":
                    timer.token()
                elif event.event == "done":
                    reply = event.json()
                    return timer.result(_reply_error(reply) if isinstance(reply, dict) else "protocol")
                elif event.event == "error":
                    return timer.result("llm_error")
                else:
                    return timer.result("protocol")
            return timer.result("incomplete")
    except ValueError:
        return timer.result("protocol")
    except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
        return timer.result(_exception_kind(exc))


async def websocket(
    url: str, origin: str | None, payload: Mapping[str, Any], *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> RequestResult:
    """Opens a socket, sends one prompt (Channels protocol), reads its tokens until ``done`` or ``error``, closes.

    The handshake is part of the request's time, as it is for a browser opening the chat page. ``origin`` must
    be one the app allows (Channels' ``AllowedHostsOriginValidator`` refuses others with 403).
    """
    # Imported here: ``websockets`` is needed only for this kind.
    try:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
        from websockets.typing import Origin
    except ImportError as exc:
        raise MissingExtra("The WebSocket client of longrun.loadgen", "loadgen", "websockets") from exc

    timer = _Timer("websocket")
    request_id = str(payload.get("id") or f"r{next(_ids)}")
    message = {**payload, "type": "prompt", "id": request_id}

    async def exchange() -> RequestResult:
        async with connect(
            url,
            origin=Origin(origin) if origin else None,
            proxy=None,
            open_timeout=None,
            ping_interval=None,
            max_size=None,
            compression=None,
        ) as socket:
            timer.status = 101
            await socket.send(json.dumps(message))
            async for frame in socket:
                reply = json.loads(frame)
                if not isinstance(reply, dict) or reply.get("id") != request_id:
                    continue  # another generation's message (there is none on a socket of our own)
                if reply.get("type") == "token":
                    timer.token()
                elif reply.get("type") == "done":
                    return timer.result(_reply_error(reply))
                elif reply.get("type") == "error":
                    return timer.result("llm_error")
                elif reply.get("type") != "started":  # "started": the call is recorded, its tokens follow
                    return timer.result("protocol")
            return timer.result("incomplete")

    try:
        # wait_for rather than asyncio.timeout(), which is Python 3.11+.
        return await asyncio.wait_for(exchange(), timeout_s)
    except InvalidStatus as exc:
        timer.status = exc.response.status_code
        return timer.result(f"http_{exc.response.status_code}")
    except ConnectionClosed:
        return timer.result("incomplete" if timer.status == 101 else "connect")
    except (InvalidHandshake, ValueError):
        return timer.result("protocol")
    except (OSError, asyncio.TimeoutError) as exc:
        return timer.result(_exception_kind(exc))
