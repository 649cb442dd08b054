"""Channels consumers without Channels' thread hop per message.

Channels' ``AsyncConsumer.dispatch`` awaits ``sync_to_async(close_old_connections)`` before every message it
hands to a handler (each WebSocket frame, each channel-layer event), and ``websocket_disconnect`` once more at
the end. Consumers do not run in a ``ThreadSensitiveContext``, so each of those calls is a hop onto the one
process-wide thread that all consumers' thread-sensitive sync calls share: a thousand sockets sending prompts
make a thousand hops queueing for one thread, to close connections that an async consumer never opened there.

``NoHopDispatchMixin`` keeps Channels' behaviour and drops the hop when it would do nothing: the housekeeping
runs (on that same thread, as before) only when the thread holds an open database connection, which is when
this consumer or another made sync database calls there (``longrun.connections``)::

    class ChatConsumer(NoHopDispatchMixin, AsyncJsonWebsocketConsumer):
        ...
"""

from __future__ import annotations

from typing import Any

try:
    from channels.consumer import get_handler_name
    from channels.exceptions import InvalidChannelLayerError, StopConsumer
except ImportError as exc:  # pragma: no cover (channels is installed wherever consumers exist)
    raise ImportError("longrun.consumers is for Channels consumers: install channels.") from exc

from longrun.connections import aclose_old_connections, track_connections

# Whether a thread holds a connection is known from the connections opened since tracking began.
track_connections()


class NoHopDispatchMixin:
    """Put before the Channels consumer class: dispatches each message without a thread hop when none is needed."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' ``AsyncConsumer.dispatch``, with the connection housekeeping made conditional."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await aclose_old_connections()
        await handler(message)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Channels' ``AsyncWebsocketConsumer.websocket_disconnect``, with the housekeeping made conditional."""
        try:
            for group in self.groups:  # type: ignore[attr-defined]
                await self.channel_layer.group_discard(group, self.channel_name)  # type: ignore[attr-defined]
        except AttributeError:
            raise InvalidChannelLayerError("BACKEND is unconfigured or doesn't support groups") from None
        await self.disconnect(message["code"])  # type: ignore[attr-defined]
        await aclose_old_connections()
        raise StopConsumer()
