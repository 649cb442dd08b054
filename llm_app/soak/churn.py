"""The clients of a soak and of a disconnect storm: users who read to the end, hang up, stop, or ask for a fault.

Every action opens a connection of its own (a new user) and ends with one outcome, counted in a ``Tally``:

* ``complete``: the reply ended with ``done`` and status ``complete``;
* ``hung_up``: the client closed the connection after some tokens, on purpose;
* ``stopped``: a WebSocket ``stop`` after some tokens, answered by ``done`` with status ``cancelled``;
* ``fault``: a prompt that asked the simulator for a fault got the app's error event or status, as it should;
* anything else (``unexpected:<what>``) is a failure of the server under test.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from longrun.loadgen.sse import aiter_events

# The longest silence a client waits through before it calls the reply stuck (an ``unexpected`` outcome).
STALL_S = 120.0
FAULTS = ("[fault:500]", "[fault:cut]", "[fault:malformed]", "[fault:429]", "[fault:stall]")


@dataclass
class Tally:
    """Outcomes so far, and the streams open right now."""

    outcomes: Counter[str] = field(default_factory=Counter)
    open: int = 0
    started: int = 0

    @property
    def unexpected(self) -> int:
        return sum(count for outcome, count in self.outcomes.items() if outcome.startswith("unexpected"))


@dataclass(frozen=True)
class Target:
    base: str  # http://host:port

    @property
    def ws(self) -> str:
        return self.base.replace("http://", "ws://") + "/ws/chat/"


class _Opened:
    """Counts a stream as open for as long as the ``with`` lasts."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def __enter__(self) -> None:
        self.tally.open += 1
        self.tally.started += 1

    def __exit__(self, *exc: object) -> None:
        self.tally.open -= 1


async def sse(session: aiohttp.ClientSession, url: str, prompt: str, *, hang_up_after: int | None, tally: Tally) -> str:
    """One SSE stream: read to ``done``, or close the connection after ``hang_up_after`` tokens."""
    with _Opened(tally):
        async with session.post(url, json={"prompt": prompt}) as response:
            if response.status != 200:
                return f"http_{response.status}"
            tokens = 0
            async for event in aiter_events(response.content):
                if event.event == "token":
                    tokens += 1
                    if hang_up_after is not None and tokens >= hang_up_after:
                        response.close()  # drops the connection: the server sees the client leave
                        return "hung_up"
                elif event.event == "done":
                    return f"done_{event.json()['status']}"
                else:
                    return event.event
            return "closed"


async def websocket(
    session: aiohttp.ClientSession,
    target: Target,
    prompt: str,
    *,
    hang_up_after: int | None = None,
    stop_after: int | None = None,
    tally: Tally,
) -> str:
    """One socket, one prompt: read to ``done``, send ``stop`` after some tokens, or close after some tokens."""
    with _Opened(tally):
        # A reply that never ends must show as a failure, not hang the run: no gap between messages is this long.
        async with session.ws_connect(
            target.ws,
            headers={"Origin": target.base},
            autoping=True,
            timeout=aiohttp.ClientWSTimeout(ws_receive=STALL_S),
        ) as socket:
            await socket.send_json({"type": "prompt", "id": "p", "prompt": prompt})
            tokens = 0
            async for frame in socket:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    return "closed"
                message = json.loads(frame.data)
                if message["type"] == "started":
                    continue  # announces the call; its tokens follow
                if message["type"] == "token":
                    tokens += 1
                    if hang_up_after is not None and tokens >= hang_up_after:
                        return "hung_up"  # leaving the block closes the socket
                    if stop_after is not None and tokens == stop_after:
                        await socket.send_json({"type": "stop", "id": "p"})
                elif message["type"] == "done":
                    return "stopped" if message["status"] == "cancelled" and stop_after else f"done_{message['status']}"
                else:
                    return str(message["type"])
            return "closed"


async def complete(session: aiohttp.ClientSession, url: str, prompt: str, *, tally: Tally) -> str:
    with _Opened(tally):
        async with session.post(url, json={"prompt": prompt}) as response:
            body = await response.json(content_type=None)
            return f"done_{body['status']}" if response.status == 200 else f"http_{response.status}"


def classify(result: str, *, fault: bool) -> str:
    """The outcome of one action from what the client got and what it asked for."""
    if result in {"hung_up", "stopped"}:
        return result
    if fault:
        # The app must say so: an error event or message, or an HTTP 5xx with a JSON error.
        return "fault" if result in {"error", "http_502", "http_503", "http_504"} else f"unexpected:fault_{result}"
    return "complete" if result == "done_complete" else f"unexpected:{result}"


Action = Callable[[aiohttp.ClientSession, Target, random.Random, Tally, int], Coroutine[Any, Any, str]]


def _prompt(rng: random.Random, fault: str = "") -> str:
    return f"soak {rng.getrandbits(48):012x} {fault}".strip()


async def _sse_to_end(s: aiohttp.ClientSession, t: Target, rng: random.Random, tally: Tally, tokens: int) -> str:
    path = "/api/sync/stream" if rng.random() < 0.1 else "/api/async/stream"
    return classify(await sse(s, t.base + path, _prompt(rng), hang_up_after=None, tally=tally), fault=False)


async def _sse_hang_up(s: aiohttp.ClientSession, t: Target, rng: random.Random, tally: Tally, tokens: int) -> str:
    after = rng.randint(1, max(1, tokens - 1))
    return classify(
        await sse(s, t.base + "/api/async/stream", _prompt(rng), hang_up_after=after, tally=tally), fault=False
    )


async def _ws_to_end(s: aiohttp.ClientSession, t: Target, rng: random.Random, tally: Tally, tokens: int) -> str:
    return classify(await websocket(s, t, _prompt(rng), tally=tally), fault=False)


async def _ws_stop(s: aiohttp.ClientSession, t: Target, rng: random.Random, tally: Tally, tokens: int) -> str:
    after = rng.randint(1, max(1, tokens - 1))
    return classify(await websocket(s, t, _prompt(rng), stop_after=after, tally=tally), fault=False)


async def _ws_hang_up(s: aiohttp.ClientSession, t: Target, rng: random.Random, tally: Tally, tokens: int) -> str:
    after = rng.randint(1, max(1, tokens - 1))
    return classify(await websocket(s, t, _prompt(rng), hang_up_after=after, tally=tally), fault=False)


async def _json(s: aiohttp.ClientSession, t: Target, rng: random.Random, tally: Tally, tokens: int) -> str:
    return classify(await complete(s, t.base + "/api/async/complete", _prompt(rng), tally=tally), fault=False)


async def _fault(s: aiohttp.ClientSession, t: Target, rng: random.Random, tally: Tally, tokens: int) -> str:
    prompt = _prompt(rng, rng.choice(FAULTS))
    if rng.random() < 0.5:
        result = await sse(s, t.base + "/api/async/stream", prompt, hang_up_after=None, tally=tally)
    else:
        result = await websocket(s, t, prompt, tally=tally)
    return classify(result, fault=True)


# The soak's mix: mostly whole replies, a third of them left early one way or another, a few faults.
MIX: tuple[tuple[Action, float], ...] = (
    (_sse_to_end, 0.30),
    (_ws_to_end, 0.20),
    (_sse_hang_up, 0.15),
    (_ws_hang_up, 0.10),
    (_ws_stop, 0.10),
    (_json, 0.10),
    (_fault, 0.05),
)


async def act(
    session: aiohttp.ClientSession, target: Target, rng: random.Random, tally: Tally, tokens: int, action: Action
) -> None:
    """Runs one action and counts its outcome; a client-side failure counts as unexpected, never raises."""
    try:
        outcome = await action(session, target, rng, tally, tokens)
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError, KeyError) as exc:
        outcome = f"unexpected:{type(exc).__name__}"
    tally.outcomes[outcome] += 1


async def churn(
    target: Target, *, streams: int, until: float, tokens: int, seed: int, tally: Tally, ramp_s: float = 10.0
) -> None:
    """``streams`` users, each running actions from ``MIX`` one after another until ``until`` (``time.monotonic``)."""
    actions, weights = zip(*MIX, strict=True)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(sock_connect=60, sock_read=STALL_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def user(index: int) -> None:
            rng = random.Random(seed * 100_003 + index)
            await asyncio.sleep(ramp_s * index / max(streams, 1))  # a ramp, not a thundering herd
            while time.monotonic() < until:
                await act(session, target, rng, tally, tokens, rng.choices(actions, weights)[0])

        await asyncio.gather(*(user(index) for index in range(streams)))


async def storm(target: Target, *, clients: int, tokens: int, seed: int, tally: Tally, spread_s: float = 2.0) -> None:
    """``clients`` streams at once, half SSE and half WebSocket, each hanging up at a random token."""
    rng = random.Random(seed)
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(sock_connect=60, sock_read=STALL_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client(index: int) -> None:
            await asyncio.sleep(rng.random() * spread_s)
            action = _sse_hang_up if index % 2 else _ws_hang_up
            await act(session, target, random.Random(seed + index), tally, tokens, action)

        await asyncio.gather(*(client(index) for index in range(clients)))
