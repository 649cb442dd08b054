"""A client that leaves a stream, as Django's ASGI handler sees it, for the examples' cancellation tests."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import Simulator


async def leave_after(response: Any, chunks: int) -> list[bytes]:
    """Read a streaming response as Django's ASGI handler does until ``chunks`` non-empty chunks came, then cancel
    the reading task, as Django does when the client disconnects. Returns the chunks received."""
    received: list[bytes] = []
    enough = asyncio.Event()

    async def read() -> None:
        async for chunk in response.streaming_content:
            if chunk:
                received.append(chunk)
            if len(received) == chunks:
                enough.set()

    task = asyncio.create_task(read())
    await enough.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return received


async def upstream_cancelled(simulator: Simulator, cancelled_before: int) -> bool:
    """Whether the simulator counted one more cancelled request, given a few seconds to notice the closed connection."""
    for _ in range(100):
        if (await simulator.astats())["cancelled"] > cancelled_before:
            return True
        await asyncio.sleep(0.05)
    return False
