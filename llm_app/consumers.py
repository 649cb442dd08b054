"""The WebSocket path: a Channels consumer over the same async LLM service as the async views.

Protocol (client -> server):
    {"type": "prompt", "id": ..., "prompt": "...", "conversation": <id>?, "max_tokens": <n>?}
    {"type": "stop", "id": ...}
    {"type": "stop", "message": <id>, "id": ...?}   stops the generation writing that message, on any socket
Server -> client:
    {"type": "started", "id": ..., "conversation": <id>, "message": <id>}
    {"type": "token", "id": ..., "text": "..."}
    {"type": "done", "id": ..., "conversation", "message", "content", "tokens", "ttft_ms", "duration_ms", "status"}
    {"type": "error", "id": ..., "message": "...", "retry_after": <s>?}
    {"type": "stopped", "id": ..., "message": <id>}   a stop by message id reached its generation

A consumer handles its messages one at a time, so a generation that ran inside ``receive_json`` would hold
back every ``stop`` until it finished. Each generation runs as its own task instead; ``stop`` cancels that
task, and a disconnect cancels them all. ``NoHopDispatchMixin`` removes the thread hop Channels makes before
each message (to close database connections this consumer never opens on that thread).

A socket lives in one server process, but a user may stop a generation from another tab or device, whose socket
another process holds. So each generation joins the channel-layer group of its assistant message (through Redis
with several processes); a stop by message id is sent to that group, and the consumer running it cancels it and
answers the sender. When the generation's socket is logged in, only the same user may stop it that way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from llm_app.models import CallPath, Interface, Status
from llm_app.services import limits, llm, rate_limit
from llm_app.services.recording import ConversationNotFound
from llm_app.services.schemas import BadRequest, ChatRequest, validate_chat_request
from longrun.consumers import NoHopDispatchMixin

logger = logging.getLogger(__name__)

# Close code for "authentication required", in the 4000-4999 range applications may use.
CLOSE_UNAUTHENTICATED = 4401
MAX_ACTIVE_GENERATIONS = 8
# How long a stop by message id waits for the generation's consumer, wherever it runs, to answer.
REMOTE_STOP_TIMEOUT_S = 2.0


def stop_group(message_id: int) -> str:
    """The channel-layer group of the generation that writes assistant message ``message_id``."""
    return f"longrun.generation.{message_id}"


class ChatConsumer(NoHopDispatchMixin, AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        """On the handshake: accepts, or refuses an anonymous socket when auth is required."""
        self.generations: dict[str, asyncio.Task[None]] = {}
        # Assistant message id -> this socket's generation id, for stops that arrive through the channel layer.
        self.by_message: dict[int, str] = {}
        self.stops_pending: dict[str, asyncio.Future[None]] = {}
        self.stop_watchers: set[asyncio.Task[None]] = set()
        user = self.scope.get("user")
        if settings.LLM_REQUIRE_AUTH and not (user and user.is_authenticated):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.accept()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """The consumer's whole life; when the server cancels it (a shutdown), its generations end with it."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            # A server that shuts down cancels this task without a disconnect event: the generation tasks would
            # run on, unowned, until the process exits mid-call and leaves their rows "streaming".
            await self._cancel_generations()

    async def disconnect(self, code: int) -> None:
        """When the socket closes: cancels every running generation and waits until each saved its part."""
        await self._cancel_generations()

    async def _cancel_generations(self) -> None:
        tasks = [*getattr(self, "generations", {}).values(), *getattr(self, "stop_watchers", ())]
        for task in tasks:
            task.cancel()
        # Shielded: this also runs while the consumer itself is being cancelled, and the saves must not be cut.
        await asyncio.shield(asyncio.gather(*tasks, return_exceptions=True))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        """Each frame: one that is not a JSON text message gets an error, not a closed socket."""
        if text_data is None:
            await self._error("", "Send JSON text frames, not binary ones.")
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError as exc:
            hint = '{"type": "prompt", "id": ..., "prompt": ...}'
            await self._error("", f"The message is not valid JSON ({exc}): send {hint}.")
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """Each client message; returns at once, so that the next message (a stop) is read promptly."""
        kind = content.get("type") if isinstance(content, dict) else None
        gen_id = str(content.get("id", "")) if isinstance(content, dict) else ""
        if kind == "prompt":
            await self._start(gen_id, content)
        elif kind == "stop" and "message" in content:
            await self._stop_anywhere(gen_id, content["message"])
        elif kind == "stop":
            await self._stop(gen_id)
        else:
            await self._error(
                gen_id,
                'Unknown message: send {"type": "prompt", "id": ..., "prompt": ...} or {"type": "stop", "id": ...}.',
            )

    async def _start(self, gen_id: str, content: dict[str, Any]) -> None:
        if not gen_id:
            await self._error(gen_id, "A prompt message needs an `id`, chosen by the client, to match its tokens.")
            return
        if gen_id in self.generations:
            await self._error(gen_id, f"Generation {gen_id!r} is already running: pick a new id, or stop it first.")
            return
        if len(self.generations) >= MAX_ACTIVE_GENERATIONS:
            await self._error(
                gen_id, f"At most {MAX_ACTIVE_GENERATIONS} generations may run at once on one socket: stop one first."
            )
            return
        try:
            chat = validate_chat_request({k: v for k, v in content.items() if k not in {"type", "id"}})
        except BadRequest as exc:
            await self._error(gen_id, exc.message)
            return
        try:
            await rate_limit.acheck(client=rate_limit.scope_client(self.scope))
        except limits.RateLimited as exc:
            await self._error(gen_id, exc.message, retry_after=exc.retry_after)
            return
        task = asyncio.create_task(self._generate(gen_id, chat))
        self.generations[gen_id] = task
        task.add_done_callback(lambda _: self.generations.pop(gen_id, None))

    async def _stop(self, gen_id: str) -> None:
        task = self.generations.get(gen_id)
        if task is None:
            await self._error(gen_id, f"No running generation has id {gen_id!r}: it may have finished already.")
            return
        task.cancel()

    def _user_pk(self) -> Any:
        user = self.scope.get("user")
        return user.pk if user is not None and user.is_authenticated else None

    async def _stop_anywhere(self, gen_id: str, message_id: Any) -> None:
        if isinstance(message_id, bool) or not isinstance(message_id, int):
            await self._error(gen_id, "`message` must be the id a `started` message gave, such as 57.")
            return
        token = uuid.uuid4().hex
        self.stops_pending[token] = asyncio.get_running_loop().create_future()
        await self.channel_layer.group_send(
            stop_group(message_id),
            {
                "type": "generation.stop",
                "message": message_id,
                "id": gen_id,
                "user": self._user_pk(),
                "reply_to": self.channel_name,
                "token": token,
            },
        )
        watcher = asyncio.create_task(self._expect_stopped(gen_id, message_id, token))
        self.stop_watchers.add(watcher)
        watcher.add_done_callback(self.stop_watchers.discard)

    async def _expect_stopped(self, gen_id: str, message_id: int, token: str) -> None:
        """Runs as a task per stop by message id: the sender hears of a stop that reached no generation."""
        try:
            await asyncio.wait_for(self.stops_pending[token], REMOTE_STOP_TIMEOUT_S)
        except TimeoutError:
            await self._error(
                gen_id,
                f"No running generation writes message {message_id}: it may have finished already, or it was "
                "started by another user.",
            )
        finally:
            self.stops_pending.pop(token, None)

    async def generation_stop(self, event: dict[str, Any]) -> None:
        """Runs for each stop sent to the group of a generation of this socket, from any socket in any process."""
        gen_id = self.by_message.get(event["message"])
        task = self.generations.get(gen_id) if gen_id is not None else None
        owner = self._user_pk()
        if task is None or (owner is not None and event.get("user") != owner):
            return
        task.cancel()
        await self.channel_layer.send(
            event["reply_to"],
            {"type": "generation.stopped", "message": event["message"], "id": event["id"], "token": event["token"]},
        )

    async def generation_stopped(self, event: dict[str, Any]) -> None:
        """Runs when a generation this socket asked to stop (by message id) confirms it was stopped."""
        pending = self.stops_pending.get(event["token"])
        if pending is not None and not pending.done():
            pending.set_result(None)
        await self.send_json({"type": "stopped", "id": event["id"], "message": event["message"]})

    async def _generate(self, gen_id: str, chat: ChatRequest) -> None:
        """Runs as a task per generation: streams tokens, then done or error; a cancel ends it as cancelled."""
        generation: llm.AsyncGeneration | None = None
        message_id: int | None = None
        told = False  # whether the client has had this generation's done or error
        try:
            generation = await llm.astream(request=chat, path=CallPath.WEBSOCKET, interface=Interface.ASGI)
            record = generation.record
            # Joined before the client learns the message id, so a stop by that id always finds the generation.
            message_id = record.message_id
            self.by_message[message_id] = gen_id
            await self.channel_layer.group_add(stop_group(message_id), self.channel_name)
            await self.send_json(
                {"type": "started", "id": gen_id, "conversation": record.conversation_id, "message": record.message_id}
            )
            async for event in generation:
                match event:
                    case llm.TokenEvent(text=text):
                        await self.send_json({"type": "token", "id": gen_id, "text": text})
                    case llm.DoneEvent(result=result):
                        await self.send_json({"type": "done", "id": gen_id, **result.as_dict()})
                        told = True
                    case llm.ErrorEvent(message=message):
                        await self.send_json({"type": "error", "id": gen_id, "message": message})
                        told = True
        except ConversationNotFound as exc:
            await self._error(gen_id, str(exc))
        except limits.OverCapacity as exc:
            await self._error(gen_id, exc.message, retry_after=exc.retry_after)
        except asyncio.CancelledError:
            if generation is not None:
                await generation.aclose()
                outcome = generation.result
                if outcome is not None and not told:
                    # After a stop the socket is still open and the client waits for this generation's end, however
                    # it came: a stop that lands as the reply finishes (while its last write or the done message is
                    # on its way) ends a complete generation, and the client must hear that too.
                    if outcome.status == Status.ERROR:
                        end = {"type": "error", "id": gen_id, "message": "The LLM call failed as it was stopped."}
                    else:
                        end = {"type": "done", "id": gen_id, **outcome.as_dict()}
                    await self._send_quietly(end)
            else:
                # Stopped while waiting for a slot under LLM_MAX_IN_FLIGHT: nothing was sent or written.
                await self._send_quietly(
                    {
                        "type": "error",
                        "id": gen_id,
                        "message": "Stopped before it started: nothing was sent to the LLM.",
                    }
                )
            raise
        except Exception as exc:  # noqa: BLE001 (a send to a socket that just closed: the server's own exception)
            if generation is not None:
                # Left suspended, the generation would never save its part nor close its upstream request.
                await generation.aclose()
            logger.info("Generation %r ended early: the socket could not take its next message (%r).", gen_id, exc)
        finally:
            if message_id is not None:
                self.by_message.pop(message_id, None)
                with contextlib.suppress(Exception):
                    await self.channel_layer.group_discard(stop_group(message_id), self.channel_name)

    async def _send_quietly(self, message: dict[str, Any]) -> None:
        # On a disconnect the socket is already gone; the partial answer is saved, there is no one to tell.
        with contextlib.suppress(Exception):
            await self.send_json(message)

    async def _error(self, gen_id: str, message: str, *, retry_after: int | None = None) -> None:
        error: dict[str, Any] = {"type": "error", "id": gen_id, "message": message}
        if retry_after is not None:
            error["retry_after"] = retry_after
        await self.send_json(error)
