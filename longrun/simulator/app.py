"""The simulator's aiohttp application: OpenAI's chat completions and model list, plus ``/stats``.

Routes: ``POST /v1/chat/completions`` (streamed or not), ``GET /v1/models``, ``GET /stats`` and
``POST /stats/reset``. Every reply takes TTFT + N x token delay, measured against absolute deadlines from the
moment the handler starts, so the delays never drift. The response headers of a stream go out with the first
token, as a real model's do once it starts generating.

Run it with ``handler_cancellation=True`` (``server.start_simulator`` does): aiohttp then cancels a handler
whose client went away, which is how a non-streamed reply that is still sleeping notices a disconnect.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from longrun.extras import MissingExtra

try:
    from aiohttp import web
except ImportError as exc:
    raise MissingExtra("The LLM simulator (longrun.simulator)", "simulator", "aiohttp") from exc

from longrun.simulator.config import InvalidRequest, SimulatorConfig, Timing, resolve_timing
from longrun.simulator.faults import (
    FAULT_NAMES,
    IMMEDIATE_FAULTS,
    MALFORMED_EVENT,
    RATE_LIMIT_BODY,
    SERVER_ERROR_BODY,
    Fault,
    error_body,
    fault_for_model,
    fault_for_prompt,
    healthy_tokens,
)
from longrun.simulator.stats import RequestRecord, Stats
from longrun.simulator.text import count_prompt_tokens, message_content, prompt_text, reply_tokens
from longrun.simulator.wire import SSE_HEADERS, ChunkEncoder, completion_body, completion_id, models_body, usage

STATS_KEY = web.AppKey("longrun_simulator_stats", Stats)
CONFIG_KEY = web.AppKey("longrun_simulator_config", SimulatorConfig)
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Reply:
    """What one chat completion request asks for, read and checked before any timing starts."""

    started: float
    id: str
    model: str
    stream: bool
    include_usage: bool
    fault: Fault | None
    timing: Timing
    tokens: tuple[str, ...]
    prompt_tokens: int

    @classmethod
    def from_body(cls, body: Any, config: SimulatorConfig, started: float) -> Reply:
        """What a request's decoded JSON asks for; InvalidRequest for what OpenAI would refuse."""
        if not isinstance(body, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        messages = body.get("messages")
        if messages is None:
            raise InvalidRequest("Missing required parameter: 'messages'.", param="messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise InvalidRequest("'messages' must be a non-empty array of message objects.", param="messages")
        model = body.get("model") or config.model
        stream = body.get("stream") or False
        if not isinstance(model, str):
            raise InvalidRequest("'model' must be a string.", param="model")
        if not isinstance(stream, bool):
            raise InvalidRequest("'stream' must be a boolean.", param="stream")
        options = body.get("stream_options")
        timing = resolve_timing(config, body)
        return cls(
            started=started,
            id=completion_id(),
            model=model,
            stream=stream,
            include_usage=isinstance(options, dict) and options.get("include_usage") is True,
            fault=fault_for_model(model) or fault_for_prompt(message_content(messages[-1])),
            timing=timing,
            tokens=reply_tokens(prompt_text(messages), timing.tokens),
            prompt_tokens=count_prompt_tokens(messages),
        )

    @property
    def finish_reason(self) -> str:
        """ "length" when max_tokens cut the reply short, else "stop"."""
        return "length" if self.timing.truncated else "stop"

    @property
    def usage(self) -> dict[str, int]:
        """The reply's token counts."""
        return usage(self.prompt_tokens, len(self.tokens))

    def deadline(self, index: int) -> float:
        """When token ``index`` is due, on the loop's clock (index N is the end of the reply)."""
        return self.started + self.timing.token_at(index)


class SimulatorHandler:
    """The request handlers, one short method per step; one instance per application."""

    def __init__(self, config: SimulatorConfig, stats: Stats) -> None:
        self.config = config
        self.stats = stats
        self.in_flight: set[asyncio.Task[Any]] = set()

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/chat/completions``."""
        started = asyncio.get_running_loop().time()
        try:
            reply = Reply.from_body(await self.read_json(request), self.config, started)
        except InvalidRequest as exc:
            return invalid_request(exc)
        task = asyncio.current_task()
        assert task is not None
        self.in_flight.add(task)
        try:
            return await self.complete(request, reply)
        finally:
            self.in_flight.discard(task)

    async def on_shutdown(self, app: web.Application) -> None:
        """End the replies in flight at once, as cancelled, when the server stops (aiohttp's on_shutdown)."""
        # aiohttp would otherwise wait out its shutdown timeout twice for each slow stream.
        for task in self.in_flight:
            task.cancel()

    async def complete(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        """Answer a valid completion with a fault, a stream or a reply, counting it in /stats."""
        with self.stats.track() as record:
            if reply.fault is not None:
                record.fault()
            if reply.fault in IMMEDIATE_FAULTS:
                return self.error_fault(reply)
            if reply.stream:
                return await self.stream(request, reply, record)
            return await self.respond(request, reply)

    async def read_json(self, request: web.Request) -> Any:
        """The request's decoded body, or InvalidRequest."""
        try:
            return json.loads(await request.read())
        except ValueError:
            raise InvalidRequest("We could not parse the JSON body of your request.") from None

    def error_fault(self, reply: Reply) -> web.Response:
        """The error reply of fault:500 and fault:429, at once."""
        if reply.fault is Fault.RATE_LIMIT:
            headers = {"retry-after": str(self.config.retry_after_s)}
            return web.Response(status=429, body=RATE_LIMIT_BODY, content_type=JSON, headers=headers)
        return web.Response(status=500, body=SERVER_ERROR_BODY, content_type=JSON)

    async def stream(self, request: web.Request, reply: Reply, record: RequestRecord) -> web.StreamResponse:
        """A ``stream: true`` reply: the chunks, then the finish chunk and ``[DONE]``."""
        response = web.StreamResponse(headers=SSE_HEADERS)
        encoder = ChunkEncoder(
            id=reply.id, created=int(time.time()), model=reply.model, include_usage=reply.include_usage
        )
        try:
            await self.stream_body(request, response, reply, encoder)
        except ConnectionResetError:
            # A write found the client gone; returning quietly lets aiohttp close the connection.
            record.cancelled()
        return response

    async def stream_body(
        self, request: web.Request, response: web.StreamResponse, reply: Reply, encoder: ChunkEncoder
    ) -> None:
        """Write one chunk per token at its deadline, and whatever fault was asked for."""
        healthy = healthy_tokens(reply.fault, len(reply.tokens))
        await sleep_until(reply.deadline(0))
        await response.prepare(request)
        await response.write(encoder.first(reply.tokens[0]))
        await self.send_tokens(response, reply, encoder, 1, healthy)
        if reply.fault is Fault.STALL:
            await self.hold(request)
            return
        if reply.fault is Fault.CUT:
            await sleep_until(reply.deadline(healthy))
            drop(request)
            return
        if reply.fault is Fault.MALFORMED:
            await response.write(MALFORMED_EVENT)
        await self.send_tokens(response, reply, encoder, healthy, len(reply.tokens))
        await sleep_until(reply.deadline(len(reply.tokens)))
        await response.write(encoder.end(reply.finish_reason, reply.usage))
        await response.write_eof()

    async def send_tokens(
        self, response: web.StreamResponse, reply: Reply, encoder: ChunkEncoder, start: int, stop: int
    ) -> None:
        """Write a run of tokens, one write each at its deadline: the hot loop of a load test."""
        tokens = reply.tokens
        for index in range(start, stop):
            await sleep_until(reply.deadline(index))
            await response.write(encoder.token(tokens[index]))

    async def respond(self, request: web.Request, reply: Reply) -> web.Response:
        """A ``stream: false`` reply: the whole completion once the last token would have been sent."""
        if reply.fault is Fault.STALL:
            await self.hold(request)
            return web.Response()
        if reply.fault is Fault.CUT:
            await sleep_until(reply.deadline(healthy_tokens(reply.fault, len(reply.tokens))))
            drop(request)
            return web.Response()
        await sleep_until(reply.deadline(len(reply.tokens)))
        content = "".join(reply.tokens)
        body = completion_body(
            id=reply.id, model=reply.model, content=content, finish_reason=reply.finish_reason, usage_=reply.usage
        )
        if reply.fault is Fault.MALFORMED:
            body = body[: len(body) // 2]
        return web.Response(body=body, content_type=JSON)

    async def hold(self, request: web.Request) -> None:
        """fault:stall: send nothing until the client leaves (which cancels us) or the cap passes."""
        await asyncio.sleep(self.config.stall_cap_s)
        drop(request)

    async def models(self, request: web.Request) -> web.Response:
        """``GET /v1/models``: the configured model, then the fault names."""
        return web.Response(body=models_body([self.config.model, *FAULT_NAMES]), content_type=JSON)

    async def get_stats(self, request: web.Request) -> web.Response:
        """``GET /stats``."""
        return web.json_response(self.stats.snapshot())

    async def reset_stats(self, request: web.Request) -> web.Response:
        """``POST /stats/reset``: zero the finished-request counters and return the new figures."""
        self.stats.reset()
        return web.json_response(self.stats.snapshot())


async def sleep_until(deadline: float) -> None:
    """Wait for an absolute loop-clock deadline, so that per-token delays never drift."""
    # sleep(0) still yields when behind schedule, so a zero-delay reply cannot starve other connections.
    await asyncio.sleep(max(0.0, deadline - asyncio.get_running_loop().time()))


def drop(request: web.Request) -> None:
    """Close the connection with no further bytes (the cut and stall faults)."""
    transport = request.transport
    if transport is not None:
        transport.close()


def invalid_request(exc: InvalidRequest) -> web.Response:
    """OpenAI's 400 invalid_request_error, for a request that cannot be read."""
    body = error_body(exc.message, "invalid_request_error", param=exc.param)
    return web.Response(status=400, body=body, content_type=JSON)


def build_app(config: SimulatorConfig | None = None) -> web.Application:
    """The simulator's aiohttp application, with its routes, its config and its counters."""
    config = config or SimulatorConfig()
    stats = Stats()
    handler = SimulatorHandler(config, stats)
    app = web.Application()
    app[CONFIG_KEY] = config
    app[STATS_KEY] = stats
    app.router.add_post("/v1/chat/completions", handler.chat_completions)
    app.router.add_get("/v1/models", handler.models)
    app.router.add_get("/stats", handler.get_stats)
    app.router.add_post("/stats/reset", handler.reset_stats)
    app.on_shutdown.append(handler.on_shutdown)
    return app
