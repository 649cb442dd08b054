"""The ASGI lifespan's hooks under daphne, which has no lifespan protocol: run as Twisted's reactor starts and stops.

``longrun.asgi.get_asgi_application`` installs them when it runs inside daphne. The startup hooks run once the
reactor runs. The shutdown hooks run at SIGTERM, but only once the application instances daphne cancels on its
way out have ended: a cancelled request or consumer still saves what it owes (a partial answer, a closing row),
and a drain that closed a writer's pool under those saves turned them into failed writes at exit, or into a
process that never exited (docs/reliability.md, "Stopping a server").

Two things about daphne (4.2.3) shape this module:

* Its own "before shutdown" trigger, ``Server.kill_all_applications``, cancels every instance and makes Twisted
  wait for them, but it runs *beside* any other "before" trigger, not before it. The hooks' trigger is added
  once the reactor runs, so after daphne's; Twisted calls a phase's triggers in order, so the instances are
  cancelled by then and can be waited for.
* ``kill_all_applications`` reads ``details["application_instance"]`` for every connection, yet a connection
  has none before its request is read, after its instance ended while the client keeps the connection open
  (HTTP keep-alive, a proxy's pooled upstream connection), and for the HTTP half of a WebSocket upgrade until
  daphne's once-a-second sweep drops it. One such connection raised ``KeyError`` (into Twisted's log, which
  daphne discards at its default verbosity) and the kill was abandoned: nothing was cancelled. The method is
  wrapped to be shown only the connections that have an instance; and since a connection still reading its
  request at that moment starts its instance later, the shutdown trigger cancels those too, round after round,
  until nothing runs.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

# How long the shutdown hooks wait for the application instances to end, at most.
CANCELLED_WAIT_S = 30.0

# daphne's servers once their kill has run, and the instances cancelled since (by the kill or here): each is
# cancelled once, so that its cleanup is not interrupted by a second cancellation.
_servers: weakref.WeakSet[Any] = weakref.WeakSet()
_cancelled: weakref.WeakSet[asyncio.Future[Any]] = weakref.WeakSet()


def _ending_instances() -> list[asyncio.Future[Any]]:
    """The application instances still running: those the kill cancelled, and any started since, cancelled now."""
    ending = []
    for server in list(_servers):
        for details in list(server.connections.values()):
            instance = details.get("application_instance")
            if instance is None or instance.done():
                continue
            if instance not in _cancelled:
                instance.cancel()
                _cancelled.add(instance)
            ending.append(instance)
    return ending


async def run_after_cancelled(shutdown: Callable[[], Awaitable[None]]) -> None:
    """Waits until daphne's application instances have ended (their cleanup may write), then runs ``shutdown``.

    Instances that start meanwhile are cancelled and waited for in turn. One that ignores its cancellation holds
    the hooks back ``CANCELLED_WAIT_S`` at most.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CANCELLED_WAIT_S
    while ending := _ending_instances():
        left = deadline - loop.time()
        if left <= 0:
            logger.warning("%d application instance(s) still running; shutting down without them.", len(ending))
            break
        await asyncio.wait(ending, timeout=left)
    await shutdown()


def tolerate_connections_without_instance(server_class: Any) -> None:
    """Wraps daphne's ``kill_all_applications`` to show it only the connections that have an instance."""
    original = server_class.kill_all_applications
    if getattr(original, "_longrun_tolerant", False):
        return

    def kill_all_applications(self: Any) -> Any:
        _servers.add(self)
        connections = self.connections
        self.connections = {protocol: d for protocol, d in connections.items() if "application_instance" in d}
        _cancelled.update(details["application_instance"] for details in self.connections.values())
        try:
            return original(self)
        finally:
            self.connections = connections

    kill_all_applications._longrun_tolerant = True  # type: ignore[attr-defined]
    server_class.kill_all_applications = kill_all_applications


def install(*, startup: Callable[[], Awaitable[None]], shutdown: Callable[[], Awaitable[None]]) -> None:
    """Runs ``startup`` when daphne's reactor starts and ``shutdown`` at its stop, after the instances ended."""
    from daphne.server import Server
    from twisted.internet import defer, reactor

    tolerate_connections_without_instance(Server)
    twisted: Any = reactor  # an asyncio reactor under daphne; the interfaces' stubs do not type its methods

    def started() -> None:
        def failed(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                logger.error("A startup hook failed: %r", task.exception())

        asyncio.ensure_future(startup()).add_done_callback(failed)
        # Added now, so after daphne's own trigger (see the module docstring).
        twisted.addSystemEventTrigger("before", "shutdown", stopping)

    def stopping() -> Any:
        # Returning a Deferred makes the reactor wait for the shutdown hooks (a drain of pending writes).
        return defer.Deferred.fromFuture(asyncio.ensure_future(run_after_cancelled(shutdown)))

    twisted.callWhenRunning(started)
