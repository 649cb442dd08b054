"""The Channels rules (LR301-LR304), and the async rules inside consumers."""

from __future__ import annotations

import pytest

from longrun.audit.model import RULES, Finding
from longrun.audit.rules.hops import HOP_PER_MESSAGE, STOCK_HANDLER
from tests.longrun.audit.conftest import Audit, rules_of


@pytest.fixture
def audit(audit: Audit) -> Audit:
    """Every rule but the two hop rules, which every consumer on Channels' dispatch and every asgi.py on Django's
    handler gets (LR305, LR206: Info; tested in test_hops.py): these trees are about the other rules."""

    def run(source: str | None = None, *, files: dict[str, str] | None = None) -> list[Finding]:
        return audit(source, files=files, rules=set(RULES) - {HOP_PER_MESSAGE.id, STOCK_HANDLER.id})

    return run


CONSUMER_HEAD = """
import asyncio

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from openai import AsyncOpenAI

from app.models import Book

client = AsyncOpenAI(timeout=30)
"""


def test_a_token_loop_inside_receive_is_reported(audit: Audit):
    findings = audit(
        CONSUMER_HEAD
        + """
class Chat(AsyncJsonWebsocketConsumer):
    async def receive_json(self, content, **kwargs):
        stream = await client.chat.completions.create(model="m", messages=[], stream=True)
        async for chunk in stream:
            await self.send_json({"t": chunk.id})
"""
    )
    assert rules_of(findings) == ["LR301"]
    assert "create_task" in findings[0].message


def test_a_generation_started_as_a_task_is_fine(audit: Audit):
    assert (
        audit(
            CONSUMER_HEAD
            + """
class Chat(AsyncJsonWebsocketConsumer):
    async def receive_json(self, content, **kwargs):
        self.task = asyncio.create_task(self.generate())

    async def generate(self):
        stream = await client.chat.completions.create(model="m", messages=[], stream=True)
        async for chunk in stream:
            await self.send_json({"t": chunk.id})
"""
        )
        == []
    )


def test_an_llm_call_on_a_client_from_a_cached_helper_inside_receive_is_reported(audit: Audit):
    findings = audit(
        CONSUMER_HEAD
        + """
import functools
from anthropic import AsyncAnthropic

@functools.cache
def claude():
    return AsyncAnthropic(timeout=30)

class Chat(AsyncJsonWebsocketConsumer):
    async def receive_json(self, content, **kwargs):
        reply = await claude().messages.create(model="m", max_tokens=10, messages=[])
        await self.send_json({"t": reply.id})
"""
    )
    assert rules_of(findings) == ["LR301"]


def test_sync_orm_inside_a_consumer_method_is_reported(audit: Audit):
    findings = audit(
        CONSUMER_HEAD
        + """
class Chat(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.book = Book.objects.get(pk=1)
        await self.accept()
"""
    )
    assert rules_of(findings) == ["LR104"]


def test_a_websocket_route_without_an_origin_validator_is_reported(audit: Audit):
    findings = audit(
        files={
            "app/asgi.py": """
        from channels.routing import ProtocolTypeRouter, URLRouter
        from django.core.asgi import get_asgi_application

        application = ProtocolTypeRouter({"http": get_asgi_application(), "websocket": URLRouter([])})
    """
        }
    )
    assert rules_of(findings) == ["LR302"]


def test_a_consumer_that_imports_models_imported_before_get_asgi_application_is_reported(audit: Audit):
    findings = audit(
        files={
            "app/consumers.py": (
                "from channels.generic.websocket import WebsocketConsumer\n\nfrom app.models import Book\n"
            ),
            "app/asgi.py": """
        from django.core.asgi import get_asgi_application

        from app.consumers import Chat

        application = get_asgi_application()
    """,
        }
    )
    assert [(f.rule, f.line) for f in findings] == [("LR303", 3)]
    assert "loads the models of `app.models` (app.consumers -> app.models)" in findings[0].message


def test_a_consumer_that_imports_no_model_may_be_imported_early(audit: Audit):
    findings = audit(
        files={
            "app/consumers.py": "import json\n\nfrom channels.generic.websocket import AsyncWebsocketConsumer\n",
            "app/routing.py": "from django.urls import path\n\nfrom app import consumers\n",
            "app/asgi.py": """
        from django.core.asgi import get_asgi_application

        from app.routing import websocket_urlpatterns

        application = get_asgi_application()
    """,
        }
    )
    assert findings == []


def test_imports_below_an_explicit_django_setup_are_safe_and_imports_above_it_are_not(audit: Audit):
    findings = audit(
        files={
            "app/consumers.py": "from app.models import Book\n",
            "app/asgi.py": """
        import django
        from app.models import Book
        django.setup()
        from channels.routing import ProtocolTypeRouter
        from django.core.asgi import get_asgi_application

        from app.consumers import Chat

        application = ProtocolTypeRouter({"http": get_asgi_application()})
    """,
        }
    )
    assert [(f.rule, f.line) for f in findings] == [("LR303", 2)]


def test_an_early_import_reaching_get_user_model_at_import_time_is_reported(audit: Audit):
    findings = audit(
        files={
            "app/users.py": "from django.contrib.auth import get_user_model\n\nUser = get_user_model()\n",
            "app/routing.py": "from app.users import User\n",
            "app/asgi.py": "from app.routing import x\nfrom django.core.asgi import get_asgi_application\n\n"
            "application = get_asgi_application()\n",
        }
    )
    assert [(f.rule, f.line) for f in findings] == [("LR303", 1)]
    assert "get_user_model()" in findings[0].message


def test_an_early_import_of_django_contrib_auth_models_is_reported(audit: Audit):
    findings = audit(
        files={
            "app/asgi.py": "from django.contrib.auth.models import User\n"
            "from django.core.asgi import get_asgi_application\n\napplication = get_asgi_application()\n",
        }
    )
    assert [(f.rule, f.line) for f in findings] == [("LR303", 1)]


def test_an_asgi_module_in_the_documented_order_is_fine(audit: Audit):
    assert (
        audit(
            files={
                "app/asgi.py": """
        from channels.auth import AuthMiddlewareStack
        from channels.routing import ProtocolTypeRouter, URLRouter
        from channels.security.websocket import OriginValidator
        from django.core.asgi import get_asgi_application

        django_app = get_asgi_application()

        from app.routing import patterns

        application = ProtocolTypeRouter(
            {"http": django_app, "websocket": OriginValidator(AuthMiddlewareStack(URLRouter(patterns)), ["*"])}
        )
    """
            }
        )
        == []
    )


def test_a_loop_sending_a_few_stored_messages_from_receive_is_not_long_work(audit: Audit):
    findings = audit(
        CONSUMER_HEAD
        + """
class Chat(AsyncJsonWebsocketConsumer):
    async def receive_json(self, content, **kwargs):
        for line in content["lines"]:
            await self.send_json({"echo": line})
        async for book in Book.objects.filter(title=content["title"]):
            await self.send_json({"title": book.title})
        self.room.messages.create(text="x")
"""
    )
    assert "LR301" not in rules_of(findings)


def test_a_sync_consumer_relaying_a_sync_llm_stream_in_receive_is_reported(audit: Audit):
    findings = audit("""
        from channels.generic.websocket import WebsocketConsumer
        from openai import OpenAI

        client = OpenAI(timeout=30)

        class Chat(WebsocketConsumer):
            def receive(self, text_data=None, bytes_data=None):
                for chunk in client.chat.completions.create(model="m", messages=[], stream=True):
                    self.send(text_data=chunk.id)
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR301", 8)]


def test_streaming_from_an_async_http_consumers_handle_is_fine(audit: Audit):
    assert (
        audit(
            CONSUMER_HEAD
            + """
from channels.generic.http import AsyncHttpConsumer


class Events(AsyncHttpConsumer):
    async def handle(self, body):
        await self.send_headers(headers=[(b"Content-Type", b"text/event-stream")])
        stream = await client.chat.completions.create(model="m", messages=[], stream=True)
        async for chunk in stream:
            await self.send_body(chunk.id.encode(), more_body=True)
        await self.send_body(b"")
"""
        )
        == []
    )


def test_a_websocket_app_built_elsewhere_or_by_a_custom_wrapper_is_not_judged(audit: Audit):
    assert (
        audit(
            files={
                "app/asgi.py": """
        from channels.routing import ProtocolTypeRouter, URLRouter
        from django.core.asgi import get_asgi_application

        django_app = get_asgi_application()

        from app.security import CheckedOrigins, websocket_app

        application = ProtocolTypeRouter({"http": django_app, "websocket": websocket_app})
        other = ProtocolTypeRouter({"http": django_app, "websocket": CheckedOrigins(URLRouter([]))})
    """
            }
        )
        == []
    )


def test_a_project_module_imported_early_is_reported_only_when_its_imports_load_models(audit: Audit):
    findings = audit(
        files={
            "app/env.py": "import os\n\nDEBUG = os.environ.get('DEBUG')\n",
            "app/consumers.py": "from app.models import Book\n",
            "app/stack.py": "from app.consumers import Chat\n",
            "app/asgi.py": """
            from django.core.asgi import get_asgi_application

            from app.env import DEBUG
            from .stack import Chat

            application = get_asgi_application()
        """,
        }
    )
    assert [(f.rule, f.line) for f in findings] == [("LR303", 4)]


def test_a_consumers_init_runs_on_the_event_loop_even_for_a_sync_consumer(audit: Audit):
    findings = audit(
        files={
            "app/consumers.py": """
        import requests
        from channels.generic.websocket import WebsocketConsumer

        from app.models import Book


        def load_prompt():
            return requests.get("https://prompts.invalid/chat", timeout=5).text


        class Chat(WebsocketConsumer):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.count = Book.objects.count()
                self.prompt = load_prompt()

            def connect(self):
                self.titles = [book.title for book in Book.objects.all()]
                self.accept()
    """,
        }
    )
    assert [(f.rule, f.line) for f in findings] == [("LR104", 14), ("LR101", 15)]
    assert all("connect()" in f.message for f in findings)
