"""What a server process of the demo prepares before its first user, and finishes before it exits.

Registered on longrun's ASGI lifespan hooks by ``LlmAppConfig.ready()``: uvicorn and granian run them through
the lifespan protocol, daphne when its reactor starts and stops (``longrun/asgi.py``). Without them, the first
burst of users after a start pays for the SDK client, its connections and the database side (measured on the
seed scenario: efficiency 0.76 on the first burst against 0.87 once warm), and writes still queued when the
process exits could be lost. The drain also ends what the process runs in the background: the sweeper's thread
and the loop's LLM clients, whose sockets would otherwise be left for the garbage collector.
"""

from __future__ import annotations

from django.urls import resolve

from llm_app import recovery
from llm_app.services import clients, recording, writers


async def warm() -> None:
    """Opens the database side (the SQLite writer and its connection, or the PostgreSQL pool), builds the LLM
    client with its caches and a first connection, and loads the URL resolver."""
    await writers.awarm()
    await clients.awarm()
    resolve("/api/async/complete")


async def drain() -> None:
    """Stops the sweeper of orphaned calls (after its sweep, if one is running), lets the saves of cancelled
    calls reach the writers, writes everything queued or in flight, then closes this loop's LLM clients."""
    await recovery.sweeper.astop()
    await recording.asettle()
    await writers.adrain()
    await clients.aclose_clients()
