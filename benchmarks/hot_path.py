"""What one async request costs in CPU, piece by piece, in one process: where the server's time per request goes.

    .venv/bin/python benchmarks/hot_path.py [--requests 2000] [--concurrency 100]

Each line runs ``--requests`` times (``--concurrency`` at a time) and divides the process's CPU (every thread:
the SQLite writer's included) by the count. The LLM is the simulator in another process, answering at once, so
its latency is out of the figures and the client side of the SDK is in. The pieces:

* the live metrics: recording's two signals and the dashboard's receivers (what the dashboard costs a call);
* the recording: a call's start and finish rows through the SQLite writer;
* the SDK: one non-streamed call and one streamed call of 50 tokens, each through ``chat.completions.create``
  (the SDK's models) and through ``services/upstream.py`` (the same SDK, the reply as JSON);
* Django alone: longrun's handler and the project's middleware around an async view that returns at once;
* the whole request: ``POST /api/async/complete`` through the project's handler, in process (no server).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _environment(workspace: str) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="hot-path-benchmark-key-not-for-production",
        DATABASE_URL=f"sqlite:///{workspace}/hot-path.sqlite3",
        DJANGO_STATIC_ROOT=workspace,
        LLM_MAX_RETRIES="0",
    )


async def per_call(label: str, call: Callable[[int], Awaitable[object]], requests: int, concurrency: int) -> float:
    """CPU ms per call of ``call``, after a warm-up, ``concurrency`` at a time; prints and returns it."""
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with gate:
            await call(n)

    await asyncio.gather(*(one(n) for n in range(min(50, requests))))
    from llm_app.services import writers

    await writers.adrain()
    start = time.process_time()
    await asyncio.gather(*(one(n) for n in range(requests)))
    await writers.adrain()  # the writes the calls queued are part of their cost
    ms = 1000 * (time.process_time() - start) / requests
    print(f"{label:64} {ms:8.3f} ms")
    return ms


async def main(requests: int, concurrency: int) -> None:
    from django.urls import clear_url_caches, path
    from django.views.decorators.csrf import csrf_exempt

    from llm_app.models import CallPath, Interface, Status
    from llm_app.services import clients, recording, signals
    from llm_app.services.recording import CallRecord
    from llm_app.services.schemas import ChatResult
    from llm_app.services.upstream import achunks, areply, astream, chunk_text
    from longrun.asgi import get_asgi_application, run_startup
    from longrun.testing import asgi_request
    from project import urls

    async def empty(request: object) -> object:
        from django.http import HttpResponse

        return HttpResponse(b"{}", content_type="application/json")

    urls.urlpatterns.append(path("bench/empty", csrf_exempt(empty)))
    clear_url_caches()
    handler = get_asgi_application()
    await run_startup()
    client = clients.aget_client()
    messages = [{"role": "user", "content": "Explain ASGI"}]

    async def metrics(n: int) -> None:
        signals.call_started.send(sender=CallRecord, call_id=n, path="async", interface="asgi", model="m")
        signals.call_finished.send(
            sender=CallRecord, call_id=n, status="complete", ttft_ms=1.0, duration_ms=2.0, tokens=50, streamed=False
        )

    async def rows(n: int) -> None:
        record = await recording.astart(
            prompt=f"user {n}", conversation_id=None, path=CallPath.ASYNC, interface=Interface.ASGI, model="m"
        )
        done = ChatResult(record.conversation_id, record.message_id, "answer " * 50, 50, 1.0, 2.0, Status.COMPLETE)
        await recording.afinish(record=record, result=done)

    async def sdk_complete(n: int) -> None:
        await client.chat.completions.create(model="m", messages=messages)

    async def sdk_stream_models(n: int) -> None:
        stream = await client.chat.completions.create(model="m", messages=messages, stream=True)
        async for _chunk in stream:
            pass

    async def sdk_stream_dicts(n: int) -> None:
        stream = await astream(client, {"model": "m", "messages": messages, "stream": True})
        async for data in achunks(stream):
            chunk_text(data)

    async def sdk_post(n: int) -> None:
        await areply(client, {"model": "m", "messages": messages})

    async def django_only(n: int) -> None:
        response = await asgi_request(handler, "POST", "/bench/empty", json={"prompt": "x"})
        assert response.status == 200, response.status

    async def whole(n: int) -> None:
        response = await asgi_request(handler, "POST", "/api/async/complete", json={"prompt": f"user {n}"})
        assert response.status == 200, response.body

    print(f"{'CPU per call, every thread of the process':64} {'':>8}")
    await per_call("live metrics: two signals and the tracker's receivers", metrics, requests, concurrency)
    await per_call("recording: start and finish rows (SQLite writer)", rows, requests, concurrency)
    await per_call("SDK: non-streamed create", sdk_complete, requests, concurrency)
    await per_call("SDK: non-streamed post, the reply as JSON (services/upstream.py)", sdk_post, requests, concurrency)
    await per_call("SDK: streamed, 50 tokens, a model per chunk", sdk_stream_models, requests, concurrency)
    await per_call(
        "SDK: streamed, 50 tokens, chunks as dicts (services/upstream.py)", sdk_stream_dicts, requests, concurrency
    )
    await per_call("Django: longrun's handler + middleware, an empty async view", django_only, requests, concurrency)
    await per_call("whole request: POST /api/async/complete, in process", whole, requests, concurrency)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hot-path-") as workspace:
        _environment(workspace)
        from longrun.simulator import SimulatorConfig, SimulatorProcess

        with SimulatorProcess(SimulatorConfig(ttft_ms=0, token_ms=0, tokens=50)) as simulator:
            os.environ["LLM_BASE_URL"] = simulator.base_url
            import django
            from django.core.management import call_command

            django.setup()
            call_command("migrate", verbosity=0)
            print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")
            asyncio.run(main(args.requests, args.concurrency))
