"""The dashboard's live-update socket: staff only; merges every process's snapshot and pushes the figures.

Each server process publishes its own snapshot to ``publisher.GROUP`` (``publisher.Publisher``). This consumer
joins the group, keeps the latest snapshot per (host, pid), drops those not refreshed for ``STALE_S`` (a process
that stopped or crashed), and sends the browser the merge after each one arrives.

The same socket starts the race (``{"type": "race.start", "users": N}``) and relays its progress from
``race.GROUP``; only staff get a socket at all, so only staff can start one. While a socket is open the race's
servers are kept warm between races (``race_servers``). ``NoHopDispatchMixin`` drops Channels' thread hop before
each message, as in the chat consumer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from llm_app.dashboard import race
from llm_app.dashboard.merge import merge
from llm_app.dashboard.publisher import GROUP, publisher
from llm_app.dashboard.race_servers import servers as race_servers
from llm_app.dashboard.tracker import Snapshot, tracker
from longrun.consumers import NoHopDispatchMixin

# Close code for "forbidden", in the 4000-4999 range applications may use.
CLOSE_FORBIDDEN = 4403
# Idle processes publish every 5 s (``Publisher.idle_interval_s``): three missed beats mean the process is gone.
STALE_S = 15.0


class DashboardConsumer(NoHopDispatchMixin, AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        """The handshake: refuses anyone but active staff, then joins the groups and asks for figures."""
        self.snapshots: dict[tuple[str, int], tuple[float, Snapshot]] = {}
        self.watching = False
        user = self.scope.get("user")
        if not (user is not None and user.is_authenticated and user.is_active and user.is_staff):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.channel_layer.group_add(race.GROUP, self.channel_name)
        await self.accept()
        self.watching = True
        # A process that serves this socket is an ASGI one, and its loop is where in-memory sends must run.
        tracker.note_interface("asgi")
        publisher.attach_loop(asyncio.get_running_loop())
        publisher.watch(self.channel_name)
        publisher.ensure_started()
        publisher.request()
        race_servers.watch()
        last = race.current()
        if last is not None:
            await self.send_json({"type": "race", "race": last.as_dict()})

    async def disconnect(self, code: int) -> None:
        """The socket closed (also after a refused handshake): leaves the groups, stops keeping the servers warm."""
        if not getattr(self, "watching", False):
            return
        race_servers.unwatch()
        publisher.unwatch(self.channel_name)
        publisher.detach_loop(asyncio.get_running_loop())
        await self.channel_layer.group_discard(GROUP, self.channel_name)
        await self.channel_layer.group_discard(race.GROUP, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """A client message: a race start request; anything else asks for fresh figures."""
        if isinstance(content, dict) and content.get("type") == "race.start":
            await self._start_race(content.get("users", race.DEFAULT_USERS))
            return
        publisher.request()

    async def _start_race(self, requested: Any) -> None:
        users = race.parse_users(requested)
        if users is None:
            await self.send_json(
                {"type": "race.refused", "message": f"users must be a whole number from 1 to {race.MAX_USERS}."}
            )
            return
        if await race.astart(users) is None:
            await self.send_json(
                {
                    "type": "race.refused",
                    "message": "A race is running already (here or on another server process): watch it, or wait "
                    "until it ends.",
                }
            )

    async def race_update(self, event: dict[str, Any]) -> None:
        """A race's progress (about five a second while one runs, and once at its end): relays it."""
        await self.send_json({"type": "race", "race": event["race"]})

    async def dashboard_snapshot(self, event: dict[str, Any]) -> None:
        """A process's snapshot from the group: stores it and sends the merged figures."""
        snapshot: Snapshot = event["snapshot"]
        now = time.monotonic()
        self.snapshots[(str(snapshot["host"]), int(snapshot["pid"]))] = (now, snapshot)
        self.snapshots = {key: (at, s) for key, (at, s) in self.snapshots.items() if now - at <= STALE_S}
        figures = merge([s for _, s in self.snapshots.values()])
        await self.send_json({"type": "figures", "figures": figures})
