"""``manage.py llm_ask "prompt"``: a sync caller (a management command) streaming through the async client.

The command is sync, so it crosses into async code once, with ``async_to_sync``, for the whole stream; tokens
are printed as they arrive. Crossing per token would run each step on a fresh event loop, while the async
client's connections belong to the loop that opened them.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.core.management.base import BaseCommand, CommandError, CommandParser

from llm_app.models import CallPath, Interface
from llm_app.services import llm
from llm_app.services.clients import aclose_clients
from llm_app.services.recording import ConversationNotFound
from llm_app.services.schemas import BadRequest, validate_chat_request


class Command(BaseCommand):
    help = "Ask the LLM and print the streamed answer (through AsyncOpenAI, bridged with async_to_sync)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prompt")
        parser.add_argument("--conversation", type=int)
        parser.add_argument("--max-tokens", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        data = {
            "prompt": options["prompt"],
            "conversation": options["conversation"],
            "max_tokens": options["max_tokens"],
        }
        try:
            chat = validate_chat_request({k: v for k, v in data.items() if v is not None})
        except BadRequest as exc:
            raise CommandError(exc.message) from None
        async_to_sync(self.ahandle)(chat)

    async def ahandle(self, chat: Any) -> None:
        """Runs on the event loop async_to_sync made for this command, once for the whole stream."""
        try:
            generation = await llm.astream(request=chat, path=CallPath.COMMAND, interface=Interface.NONE)
            async for event in generation:
                match event:
                    case llm.TokenEvent(text=text):
                        self.stdout.write(text, ending="")
                        self.stdout.flush()
                    case llm.DoneEvent(result=result):
                        self.stdout.write("")
                        self.stderr.write(
                            f"[conversation {result.conversation}, {result.tokens} tokens, "
                            f"first token {result.ttft_ms} ms, {result.duration_ms} ms]"
                        )
                    case llm.ErrorEvent(message=message):
                        self.stdout.write("")
                        raise CommandError(message)
        except ConversationNotFound as exc:
            raise CommandError(str(exc)) from None
        finally:
            await aclose_clients()
