"""The chat over a WebSocket: several generations per socket, each one stoppable."""
import asyncio
from contextlib import aclosing

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.cache import cache

from .views import answer_tokens, llm_client


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.generations = {}
        await self.accept()

    async def disconnect(self, code):
        tasks = list(self.generations.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def receive_json(self, content, **kwargs):
        # Returns at once: a consumer reads its next message (a "stop") only after this one is handled (LR301).
        gen_id = str(content.get("id", ""))
        if content.get("type") == "prompt" and gen_id not in self.generations:
            conversation = str(content.get("conversation", "default"))
            task = asyncio.create_task(self.generate(gen_id, content["prompt"], conversation))
            self.generations[gen_id] = task
            task.add_done_callback(lambda _: self.generations.pop(gen_id, None))
        elif content.get("type") == "stop" and gen_id in self.generations:
            self.generations[gen_id].cancel()

    async def generate(self, gen_id, prompt, conversation):
        """One task per generation: tokens, then "done" (status complete, or cancelled after a stop)."""
        try:
            upstream = await llm_client().chat.completions.create(
                model=settings.LLM_MODEL, messages=[{"role": "user", "content": prompt}], stream=True
            )
            async with aclosing(answer_tokens(upstream, conversation)) as tokens:
                async for text in tokens:
                    if text:
                        await self.send_json({"type": "token", "id": gen_id, "text": text})
        except asyncio.CancelledError:
            await self.done(gen_id, conversation)  # the partial answer, saved by answer_tokens
            raise
        await self.done(gen_id, conversation)

    async def done(self, gen_id, conversation):
        saved = await cache.aget(f"answer:{conversation}") or {"content": "", "status": "cancelled"}
        try:
            await self.send_json({"type": "done", "id": gen_id, **saved})
        except Exception:  # after a disconnect there is no one to tell
            pass
