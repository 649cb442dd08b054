"""What several server processes share through Redis: the clients, the key names, and a lock across processes.

With ``REDIS_URL`` unset the demo runs one process (the in-memory channel layer reaches no other), so the
process-local fallbacks here are then the whole truth. With it set, every process that shares the URL and
``REDIS_KEY_PREFIX`` shares the rate-limit windows and the locks.

The sync client is one per process (redis-py's pool is thread-safe); the async client is one per event loop,
because its connections belong to the loop that opened them (daphne and uvicorn run one loop, tests one per test).
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import threading
import weakref

import redis
import redis.asyncio
from django.conf import settings

# Redis answers in well under a millisecond; a server that does not answer in this long is down or unreachable,
# and a request should not wait on it longer than on a slow page.
SOCKET_TIMEOUT_S = 2.0


def key(*parts: str) -> str:
    """A Redis key in this deployment's namespace: ``REDIS_KEY_PREFIX`` first, so tests and apps can share a server."""
    return ":".join((settings.REDIS_KEY_PREFIX, *parts))


def redis_url() -> str:
    """The Redis URL every process shares, or "" when the deployment runs without Redis."""
    return str(getattr(settings, "REDIS_URL", "") or "")


@functools.lru_cache(maxsize=4)
def _sync_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S)


def get_redis() -> redis.Redis | None:
    """The process's sync Redis client, or None without ``REDIS_URL``."""
    url = redis_url()
    return _sync_client(url) if url else None


_async_lock = threading.Lock()
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, redis.asyncio.Redis]] = (
    weakref.WeakKeyDictionary()
)


def aget_redis() -> redis.asyncio.Redis | None:
    """The running loop's async Redis client, or None without ``REDIS_URL``."""
    url = redis_url()
    if not url:
        return None
    loop = asyncio.get_running_loop()
    with _async_lock:
        per_loop = _async_clients.setdefault(loop, {})
        client = per_loop.get(url)
        if client is None:
            client = per_loop[url] = redis.asyncio.Redis.from_url(
                url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
            )
        return client


async def aclose_redis() -> None:
    """Closes the running loop's async clients; for a loop about to end (tests, commands)."""
    with _async_lock:
        clients = list(_async_clients.pop(asyncio.get_running_loop(), {}).values())
    for client in clients:
        await client.aclose()


# Renew and release only while the key still holds our token: a lock that expired and was taken by another
# process must not be extended or deleted by its former holder.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_local_lock = threading.Lock()
_local_holders: dict[str, str] = {}


class Lock:
    """A named lock that at most one holder has at a time, across every process sharing ``REDIS_URL``.

    In Redis it is a key that expires after ``ttl_s`` unless renewed, so a holder that crashed frees it on its
    own; a long holder calls ``arenew`` more often than that. Without Redis it is held in this process only.
    """

    def __init__(self, name: str, *, ttl_s: float) -> None:
        self.name = name
        self.ttl_ms = int(ttl_s * 1000)
        self._token = secrets.token_hex(16)

    @property
    def _key(self) -> str:
        return key("lock", self.name)

    async def aacquire(self) -> bool:
        """Takes the lock if it is free (held by no one, this holder included); returns whether it did. Never waits."""
        client = aget_redis()
        if client is None:
            with _local_lock:
                if self.name in _local_holders:
                    return False
                _local_holders[self.name] = self._token
                return True
        return bool(await client.set(self._key, self._token, nx=True, px=self.ttl_ms))

    async def arenew(self) -> bool:
        """Extends the lock by its time to live; returns False when it is no longer this holder's."""
        client = aget_redis()
        if client is None:
            with _local_lock:
                return _local_holders.get(self.name) == self._token
        return bool(await client.eval(_RENEW, 1, self._key, self._token, str(self.ttl_ms)))

    async def arelease(self) -> None:
        """Frees the lock if this holder still has it."""
        client = aget_redis()
        if client is None:
            with _local_lock:
                if _local_holders.get(self.name) == self._token:
                    del _local_holders[self.name]
            return
        await client.eval(_RELEASE, 1, self._key, self._token)
