"""The OpenAI SDK clients: one sync client per process, one async client per event loop.

Building a client per request would open a new connection pool (and TLS handshakes) per request. The async
client is bound to the event loop it first runs on (its connection pool's sockets belong to that loop), so it
is cached per loop; daphne and uvicorn run one loop, tests run one per test.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import weakref
from dataclasses import dataclass

import httpx2
from django.conf import settings
from openai import AsyncOpenAI, DefaultAioHttpClient, DefaultAsyncHttpxClient, DefaultHttpxClient, OpenAI


@dataclass(frozen=True, slots=True)
class ClientConfig:
    base_url: str
    api_key: str
    timeout: float
    max_retries: int
    http_backend: str
    max_connections: int

    @classmethod
    def from_settings(cls) -> ClientConfig:
        return cls(
            base_url=settings.LLM_BASE_URL,
            api_key=settings.LLM_API_KEY,
            timeout=settings.LLM_TIMEOUT,
            max_retries=settings.LLM_MAX_RETRIES,
            http_backend=settings.LLM_HTTP_BACKEND,
            max_connections=settings.LLM_MAX_CONNECTIONS,
        )

    def timeouts(self) -> httpx2.Timeout:
        # LLM_TIMEOUT bounds each read (a stalled stream), not the whole reply, which may legitimately be long.
        return httpx2.Timeout(self.timeout, connect=min(self.timeout, 10.0))

    def limits(self) -> httpx2.Limits:
        # Keep-alive connections sized like the pool: a burst of N calls reuses N sockets instead of reopening.
        return httpx2.Limits(max_connections=self.max_connections, max_keepalive_connections=self.max_connections)


@functools.lru_cache(maxsize=8)
def _sync_client(config: ClientConfig) -> OpenAI:
    return OpenAI(
        base_url=config.base_url,
        api_key=config.api_key,
        timeout=config.timeouts(),
        max_retries=config.max_retries,
        http_client=DefaultHttpxClient(timeout=config.timeouts(), limits=config.limits()),
    )


_sync_lock = threading.Lock()


def get_client() -> OpenAI:
    """The process's sync client for the current settings, for each sync call."""
    config = ClientConfig.from_settings()
    # lru_cache does not hold a lock while it builds: two threads' first calls would each build a client, and
    # the one not kept would be dropped with its sockets open.
    with _sync_lock:
        return _sync_client(config)


_async_lock = threading.Lock()
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[ClientConfig, AsyncOpenAI]] = (
    weakref.WeakKeyDictionary()
)


def _build_async_client(config: ClientConfig) -> AsyncOpenAI:
    http_class = DefaultAioHttpClient if config.http_backend == "aiohttp" else DefaultAsyncHttpxClient
    return AsyncOpenAI(
        base_url=config.base_url,
        api_key=config.api_key,
        timeout=config.timeouts(),
        max_retries=config.max_retries,
        http_client=http_class(timeout=config.timeouts(), limits=config.limits()),
    )


def aget_client() -> AsyncOpenAI:
    """The running loop's async client for the current settings, for each async call."""
    loop = asyncio.get_running_loop()
    config = ClientConfig.from_settings()
    with _async_lock:
        per_loop = _async_clients.setdefault(loop, {})
        client = per_loop.get(config)
        if client is None:
            client = per_loop[config] = _build_async_client(config)
        return client


async def aclose_clients() -> None:
    """Called when a loop is about to end (tests, commands): closes that loop's async clients and their sockets."""
    with _async_lock:
        clients = list(_async_clients.pop(asyncio.get_running_loop(), {}).values())
    for client in clients:
        await client.close()
