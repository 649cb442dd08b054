"""The per-client rate limit on the generation endpoints (``LLM_RATE_LIMIT``), and who the client is.

``LLM_RATE_LIMIT`` reads ``requests/period``: ``30/min``, ``500/hour``, ``5/10s``; empty turns it off. It is a
sliding window: a request is allowed when fewer than ``requests`` were allowed in the ``period`` before it, and
a refused one learns exactly when the oldest of those leaves the window (``Retry-After``). Refused requests do
not count, so a client that keeps retrying too early is not locked out for longer.

The client is the logged-in user, or else the IP address (an IPv6 address by its /64, which one host usually
holds whole). Behind a proxy every request comes from the proxy's address, so the address is read from
``LLM_CLIENT_IP_HEADER`` (``X-Real-IP``, ``X-Forwarded-For``) - but only when the request comes from an address
in ``LLM_TRUSTED_PROXIES``, since anyone can send that header. A list such as ``X-Forwarded-For`` is read from
the right, skipping the trusted proxies: the first other address is the one the nearest proxy saw connecting.

With ``REDIS_URL`` set, the window lives in Redis (one sorted set per client, updated by one atomic script on
Redis's clock), so every process counts the same requests. Without it, each process counts its own. If Redis
does not answer, the request is let through and the failure logged: the in-flight cap still protects the LLM,
and an outage of the counter should not become an outage of the site.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from llm_app.services import coordination
from llm_app.services.limits import RateLimited

logger = logging.getLogger(__name__)

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE = re.compile(r"^(?P<count>\d+)\s*/\s*(?P<times>\d*)\s*(?P<unit>[a-z]+?)s?$")
# A sweep of the in-process windows drops clients idle for a whole window, once this many are tracked.
_SWEEP_AT = 10_000


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    window_s: float
    text: str


@functools.lru_cache(maxsize=8)
def parse_rate(text: str) -> Rate | None:
    """``LLM_RATE_LIMIT`` as a Rate, or None when empty; raises ImproperlyConfigured for anything unreadable."""
    cleaned = text.strip().lower()
    if not cleaned:
        return None
    match = _RATE.match(cleaned)
    unit = _UNITS.get(match["unit"]) if match else None
    if match is None or unit is None or int(match["count"]) < 1 or match["times"] == "0":
        raise ImproperlyConfigured(
            f"LLM_RATE_LIMIT={text!r} is not a rate: write requests/period, such as 30/min, 500/hour, 5/10s or "
            "1000/day (leave it empty for no limit)."
        )
    return Rate(count=int(match["count"]), window_s=float(unit * int(match["times"] or 1)), text=cleaned)


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"LLM_TRUSTED_PROXIES has an entry that is not an address or network ({exc}): "
            "list the proxies' addresses, such as 127.0.0.1,10.0.0.0/8."
        ) from None


def validate_settings() -> None:
    """Reads the limits' settings once at start-up, so a typo stops the server with the fix, not the 1st request."""
    parse_rate(str(settings.LLM_RATE_LIMIT))
    _networks(tuple(settings.LLM_TRUSTED_PROXIES))


# --- who the client is -----------------------------------------------------------------------------------------


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(peer: str | None, header_value: str | None) -> str:
    """The client's IP address: the peer's, or the forwarded one when the peer is a trusted proxy."""
    trusted = _networks(tuple(settings.LLM_TRUSTED_PROXIES))
    peer_address = _address(peer or "")
    if peer_address is None:
        return peer or "unknown"
    if not (header_value and any(peer_address in network for network in trusted)):
        return str(peer_address)
    for entry in reversed(header_value.split(",")):
        forwarded = _address(entry)
        if forwarded is None:
            # Garbage in a header our own proxy wrote cannot come from it: trust nothing left of it.
            break
        if not any(forwarded in network for network in trusted):
            return str(forwarded)
        peer_address = forwarded
    return str(peer_address)


def client_key(*, user_pk: Any, peer: str | None, header_value: str | None) -> str:
    """The rate limit's key for a client: the user when logged in, else the address (IPv6 by its /64)."""
    if user_pk is not None:
        return f"user:{user_pk}"
    address = _address(client_address(peer, header_value))
    if address is None:
        return "ip:unknown"
    if address.version == 6:
        return f"ip:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"ip:{address}"


def _header_name() -> str:
    return str(settings.LLM_CLIENT_IP_HEADER).strip()


def _request_header(request: HttpRequest) -> str | None:
    name = _header_name()
    return request.headers.get(name) if name else None


def request_client(request: HttpRequest) -> str:
    """The client key of an HTTP request, in sync code (``request.user``)."""
    user = getattr(request, "user", None)
    user_pk = user.pk if user is not None and user.is_authenticated else None
    return client_key(user_pk=user_pk, peer=request.META.get("REMOTE_ADDR"), header_value=_request_header(request))


async def arequest_client(request: HttpRequest) -> str:
    """The client key of an HTTP request, in async code: the user is loaded without blocking the loop."""
    user = await request.auser() if hasattr(request, "auser") else None
    user_pk = user.pk if user is not None and user.is_authenticated else None
    return client_key(user_pk=user_pk, peer=request.META.get("REMOTE_ADDR"), header_value=_request_header(request))


def _scope_header(headers: Iterable[tuple[bytes, bytes]], name: str) -> str | None:
    wanted = name.lower().encode("latin-1")
    values = [value.decode("latin-1") for key, value in headers if key.lower() == wanted]
    return ",".join(values) if values else None


def scope_client(scope: Mapping[str, Any]) -> str:
    """The client key of a socket, from its Channels scope (after the auth stack)."""
    user = scope.get("user")
    user_pk = user.pk if user is not None and user.is_authenticated else None
    client = scope.get("client")
    peer = str(client[0]) if client else None
    name = _header_name()
    header_value = _scope_header(scope.get("headers", ()), name) if name else None
    return client_key(user_pk=user_pk, peer=peer, header_value=header_value)


# --- the windows -------------------------------------------------------------------------------------------------

# KEYS[1]: the client's window, a sorted set of request ids scored by time (ms). ARGV: count, window ms, request id.
# Returns 0 when the request is allowed (and counted), else the milliseconds until a place frees up.
_SLIDING_WINDOW = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('PEXPIRE', KEYS[1], window)
    return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class _LocalWindows:
    """The same sliding windows in this process, for a deployment without Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def hit(self, client: str, rate: Rate) -> float:
        """Counts a request if allowed and returns 0, else returns the seconds until a place frees up."""
        now = time.monotonic()
        with self._lock:
            if len(self._hits) > _SWEEP_AT:
                self._sweep(now, rate.window_s)
            hits = self._hits.setdefault(client, deque())
            while hits and hits[0] <= now - rate.window_s:
                hits.popleft()
            if len(hits) < rate.count:
                hits.append(now)
                return 0.0
            return hits[0] + rate.window_s - now

    def _sweep(self, now: float, window_s: float) -> None:
        self._hits = {client: hits for client, hits in self._hits.items() if hits and hits[-1] > now - window_s}


_local = _LocalWindows()


def _key(client: str) -> str:
    return coordination.key("ratelimit", client)


def _args(rate: Rate) -> tuple[int, int, str]:
    return rate.count, int(rate.window_s * 1000), uuid.uuid4().hex


def _refused(rate: Rate, wait_s: float) -> RateLimited:
    retry_after = max(1, math.ceil(wait_s))
    return RateLimited(
        f"Too many generation requests from this client: LLM_RATE_LIMIT allows {rate.text}. Retry in {retry_after} s.",
        retry_after=retry_after,
    )


def _redis_failed(exc: Exception) -> float:
    logger.error("The rate limit could not reach Redis (%s): the request is let through uncounted.", exc)
    return 0.0


def check(*, client: str) -> None:
    """Counts one generation request of ``client``, or raises RateLimited when over its rate (sync twin)."""
    rate = parse_rate(str(settings.LLM_RATE_LIMIT))
    if rate is None:
        return
    client_redis = coordination.get_redis()
    if client_redis is None:
        wait_s = _local.hit(client, rate)
    else:
        try:
            wait_ms = client_redis.register_script(_SLIDING_WINDOW)(keys=[_key(client)], args=_args(rate))
            wait_s = int(wait_ms) / 1000
        except (redis.RedisError, OSError) as exc:
            wait_s = _redis_failed(exc)
    if wait_s > 0:
        raise _refused(rate, wait_s)


async def acheck(*, client: str) -> None:
    """Counts one generation request of ``client``, or raises RateLimited when over its rate (async twin)."""
    rate = parse_rate(str(settings.LLM_RATE_LIMIT))
    if rate is None:
        return
    client_redis = coordination.aget_redis()
    if client_redis is None:
        # A few instructions under a lock nobody holds across a wait: fine on the event loop.
        wait_s = _local.hit(client, rate)
    else:
        try:
            wait_ms = await client_redis.register_script(_SLIDING_WINDOW)(keys=[_key(client)], args=_args(rate))
            wait_s = int(wait_ms) / 1000
        except (redis.RedisError, OSError) as exc:
            wait_s = _redis_failed(exc)
    if wait_s > 0:
        raise _refused(rate, wait_s)


def check_request(request: HttpRequest) -> None:
    """``check`` for an HTTP request's client; no work at all when no rate is set."""
    if parse_rate(str(settings.LLM_RATE_LIMIT)) is not None:
        check(client=request_client(request))


async def acheck_request(request: HttpRequest) -> None:
    """``acheck`` for an HTTP request's client; no work at all when no rate is set."""
    if parse_rate(str(settings.LLM_RATE_LIMIT)) is not None:
        await acheck(client=await arequest_client(request))
