"""The OpenAI SDK clients: one sync client per process, one async client per event loop, closed with its loop.

Building a client per request would open a new connection pool (and TLS handshakes) per request. The async
client is bound to the event loop it first runs on (its connection pool's sockets belong to that loop), so it
is cached per loop; daphne and uvicorn run one loop, tests run one per test, and an async view under a WSGI
server runs on a loop of its own per request (``async_to_sync``).

A loop's clients are closed before the loop is: by the ASGI lifespan's shutdown (``aclose_clients``), or, on a
loop that has none (a WSGI request's, a test's, a command's ``asyncio.run``, uvicorn with ``--lifespan off``),
when the loop finalises its async generators. ``asyncio.run``, ``asyncio.Runner`` and asgiref's
``async_to_sync`` all call ``loop.shutdown_asyncgens()`` after the last task ends and before the loop closes;
one async generator per loop, started when the loop's first client is built, closes the clients in its
``finally``. Without it, a client dropped with its loop leaves aiohttp's session and connector for the garbage
collector, which closes their sockets without a word to the server and logs "Unclosed client session" (under
gunicorn, once for every async request).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import httpx2
from django.conf import settings
from openai import AsyncOpenAI, DefaultAioHttpClient, DefaultAsyncHttpxClient, DefaultHttpxClient, OpenAI

logger = logging.getLogger(__name__)


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


def _client_kwargs(config: ClientConfig) -> dict[str, Any]:
    """What both clients take from the config, beside their HTTP client."""
    return {
        "base_url": config.base_url,
        "api_key": config.api_key,
        "timeout": config.timeouts(),
        "max_retries": config.max_retries,
    }


@functools.lru_cache(maxsize=8)
def _sync_client(config: ClientConfig) -> OpenAI:
    return OpenAI(
        **_client_kwargs(config),
        http_client=DefaultHttpxClient(timeout=config.timeouts(), limits=config.limits()),
    )


_sync_lock = threading.Lock()


def get_client() -> OpenAI:
    """The process's sync client for the current settings (one per settings: tests change them)."""
    config = ClientConfig.from_settings()
    # lru_cache does not hold a lock while it builds: two threads' first calls would each build a client, and
    # the one not kept would be dropped with its sockets open.
    with _sync_lock:
        return _sync_client(config)


class _LoopClients:
    """One event loop's async clients, and the async generator that closes them when the loop ends."""

    def __init__(self) -> None:
        self.clients: dict[ClientConfig, AsyncOpenAI] = {}
        self.closer = self._close_at_loop_end()
        # Run to its ``yield`` now: its first step registers it with the running loop (asyncio's firstiter hook),
        # so that the loop's shutdown_asyncgens() throws GeneratorExit into it. Nothing there awaits, so one
        # synchronous step reaches the yield.
        step: Any = self.closer.asend(None)
        try:
            step.send(None)
        except StopIteration:
            pass
        else:  # pragma: no cover (the generator awaits nothing before its yield)
            raise RuntimeError("The loop's client closer did not start.")

    async def _close_at_loop_end(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            # Holds no reference to the loop: the entry is found again through the loop now running.
            with _async_lock:
                if _async_clients.get(asyncio.get_running_loop()) is self:
                    del _async_clients[asyncio.get_running_loop()]
            for client in list(self.clients.values()):
                await client.close()
            self.clients.clear()


_async_lock = threading.Lock()
# A plain dict: the closer's generator refers to its loop (asyncio's finaliser hook), so a weak key would never
# die. An entry leaves when its loop finalises its generators; one of a loop closed without doing so (no
# asyncio.run) is dropped when the next loop's entry is made.
_async_clients: dict[asyncio.AbstractEventLoop, _LoopClients] = {}


def _build_async_client(config: ClientConfig) -> AsyncOpenAI:
    http_class = DefaultAioHttpClient if config.http_backend == "aiohttp" else DefaultAsyncHttpxClient
    return AsyncOpenAI(
        **_client_kwargs(config), http_client=http_class(timeout=config.timeouts(), limits=config.limits())
    )


def aget_client() -> AsyncOpenAI:
    """The running loop's async client for the current settings: its sockets belong to that loop."""
    loop = asyncio.get_running_loop()
    config = ClientConfig.from_settings()
    with _async_lock:
        entry = _async_clients.get(loop)
        if entry is None:
            for closed in [other for other in _async_clients if other.is_closed()]:
                del _async_clients[closed]
            entry = _async_clients[loop] = _LoopClients()
        client = entry.clients.get(config)
        if client is None:
            client = entry.clients[config] = _build_async_client(config)
        return client


async def aclose_clients() -> None:
    """Closes the running loop's async clients and their sockets now (a loop about to end: shutdown, tests)."""
    with _async_lock:
        entry = _async_clients.pop(asyncio.get_running_loop(), None)
    if entry is not None:
        await entry.closer.aclose()


def open_loops() -> int:
    """How many event loops have async clients open (for tests: a loop that ended must have none)."""
    with _async_lock:
        return len(_async_clients)


# One chunk and one whole reply as the simulator and OpenAI send them: parsed once at start-up to build the SDK's
# caches for them.
_SAMPLE_CHUNK = {
    "id": "warm-up",
    "object": "chat.completion.chunk",
    "created": 0,
    "model": "warm-up",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": None}],
}
_SAMPLE_REPLY = {
    "id": "warm-up",
    "object": "chat.completion",
    "created": 0,
    "model": "warm-up",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}


async def awarm() -> None:
    """Builds this loop's client and what its first call would build, and opens a connection to the LLM.

    Measured: the SDK's first streamed call costs 44 ms of CPU (imports, type caches, argument transforms)
    against 5 ms for the next ones, so the first users of a burst wait behind it. This pays for it before the
    first user. The connection is opened with ``GET /models`` (free with every provider); an LLM that does not
    answer is logged, not fatal: the first requests report it with the usual message.
    """
    client = aget_client()
    client.chat.completions  # noqa: B018 (the SDK imports its resources on first access)
    try:
        import anyio._backends._asyncio  # noqa: F401 (the SDK's stream drain imports it at the first stream's end)
        from openai._models import construct_type
        from openai._utils import async_maybe_transform
        from openai.types.chat import ChatCompletion, ChatCompletionChunk
        from openai.types.chat import completion_create_params as params

        construct_type(type_=ChatCompletionChunk, value=_SAMPLE_CHUNK)
        construct_type(type_=ChatCompletion, value=_SAMPLE_REPLY)
        messages = [{"role": "user", "content": "hi"}]
        streamed = {"messages": messages, "model": "m", "stream": True, "stream_options": {"include_usage": True}}
        await async_maybe_transform({**streamed, "max_tokens": 1}, params.CompletionCreateParamsStreaming)
        await async_maybe_transform(
            {"messages": messages, "model": "m", "max_tokens": 1}, params.CompletionCreateParamsNonStreaming
        )
    except ImportError:  # another SDK version: the first call builds these then
        logger.info("The OpenAI SDK's internals moved: its caches fill on the first call instead.")
    try:
        await client.with_options(max_retries=0, timeout=5.0).models.list()
    except Exception as exc:  # noqa: BLE001 (a warm-up: the requests themselves report an unreachable LLM)
        logger.warning("The LLM at %s did not answer at start-up (%s); serving anyway.", settings.LLM_BASE_URL, exc)
