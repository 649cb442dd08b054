"""A stand-in for the race's servers, run as a child process: the app's two stream endpoints, quick to start.

``python race_app.py PORT SLOTS`` serves ``/api/sync/stream`` and ``/api/async/stream`` with the app's SSE
events (``token`` per token, then ``done`` with ``duration_ms``). ``SLOTS`` is how many answers it streams at
once (0: no limit): 5 behaves as a pool of five sync workers, whose other requests wait their turn. Each answer
is ``max_tokens`` tokens, ``TOKEN_S`` apart after ``TTFT_S``; ``duration_ms`` counts from the slot's start, as
the app counts from the start of its LLM call.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from aiohttp import web

TTFT_S = 0.05
TOKEN_S = 0.01


def event(name: str, data: dict[str, object]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def build(slots: int) -> web.Application:
    limit = asyncio.Semaphore(slots) if slots else None

    async def stream(request: web.Request) -> web.StreamResponse:
        tokens = int((await request.json()).get("max_tokens", 20))
        if limit is not None:
            await limit.acquire()
        try:
            started = time.perf_counter()
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await asyncio.sleep(TTFT_S)
            for n in range(tokens):
                await response.write(event("token", {"text": f" w{n}"}))
                await asyncio.sleep(TOKEN_S)
            duration_ms = 1000 * (time.perf_counter() - started)
            await response.write(event("done", {"tokens": tokens, "duration_ms": duration_ms, "status": "complete"}))
            await response.write_eof()
            return response
        finally:
            if limit is not None:
                limit.release()

    app = web.Application()
    app.router.add_post("/api/sync/stream", stream)
    app.router.add_post("/api/async/stream", stream)
    return app


if __name__ == "__main__":
    port, slots = int(sys.argv[1]), int(sys.argv[2])
    web.run_app(build(slots), host="127.0.0.1", port=port, print=None, backlog=1024)
