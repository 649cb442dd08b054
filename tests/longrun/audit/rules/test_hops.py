"""The thread-hop rules: Django's own ASGI handler (LR206) and Channels' hop before each consumer message (LR305)."""

from __future__ import annotations

import pytest

from longrun.audit.model import Finding
from tests.longrun.audit.conftest import Audit

HOP_RULES = {"LR206", "LR305"}


def hops(audit: Audit, files: dict[str, str]) -> list[Finding]:
    """The hop rules' findings in a tree."""
    return audit(files=files, rules=HOP_RULES)


def placed(findings: list[Finding]) -> list[tuple[str, str, int]]:
    return [(f.rule, f.path, f.line) for f in findings]


STARTPROJECT_ASGI = """
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "conf.settings")

application = get_asgi_application()
"""


def test_startproject_s_asgi_py_is_reported_at_the_call_as_an_info(audit: Audit):
    findings = hops(audit, {"conf/asgi.py": STARTPROJECT_ASGI})
    assert placed(findings) == [("LR206", "conf/asgi.py", 7)]
    assert findings[0].severity == "info"


def test_the_message_gives_the_measured_cost_and_longrun_s_handler(audit: Audit):
    (finding,) = hops(audit, {"conf/asgi.py": STARTPROJECT_ASGI})
    assert "284 us" in finding.message and "58 us" in finding.message
    assert "`longrun.asgi.get_asgi_application()`" in finding.message


def test_a_handler_kept_in_a_variable_for_protocol_type_router_is_reported_once_at_its_call(audit: Audit):
    source = """
        from channels.routing import ProtocolTypeRouter
        from django.core.asgi import get_asgi_application

        django_asgi_app = get_asgi_application()

        application = ProtocolTypeRouter({"http": django_asgi_app, "lifespan": django_asgi_app})
    """
    assert placed(hops(audit, {"conf/asgi.py": source})) == [("LR206", "conf/asgi.py", 4)]


def test_get_asgi_application_imported_under_another_name_is_reported_by_both_names(audit: Audit):
    source = "from django.core.asgi import get_asgi_application as django_app\n\napplication = django_app()\n"
    (finding,) = hops(audit, {"conf/asgi.py": source})
    assert finding.message.startswith("`django_app()` (`django.core.asgi.get_asgi_application`) builds")


def test_get_asgi_application_reached_through_its_module_is_reported(audit: Audit):
    source = "import django.core.asgi\nfrom django.core import asgi\n\na = django.core.asgi.get_asgi_application()\n"
    source += "b = asgi.get_asgi_application()\n"
    assert [f.line for f in hops(audit, {"conf/asgi.py": source})] == [4, 5]


def test_django_s_asgi_handler_class_built_directly_is_reported(audit: Audit):
    source = "from django.core.handlers.asgi import ASGIHandler\n\napplication = ASGIHandler()\n"
    assert placed(hops(audit, {"conf/asgi.py": source})) == [("LR206", "conf/asgi.py", 3)]


def test_a_project_subclass_of_django_s_handler_is_reported_unless_it_replaces_handle(audit: Audit):
    source = """
        from django.core.handlers.asgi import ASGIHandler

        class Tagged(ASGIHandler):
            tag = "x"

        class Rewritten(ASGIHandler):
            async def handle(self, scope, receive, send):
                ...

        tagged = Tagged()
        rewritten = Rewritten()
    """
    assert [f.line for f in hops(audit, {"conf/asgi.py": source})] == [10]


def test_longrun_s_handler_is_not_reported(audit: Audit):
    source = """
        import longrun.asgi
        from longrun.asgi import get_asgi_application

        application = get_asgi_application()
        handler = longrun.asgi.ASGIHandler()
    """
    assert hops(audit, {"conf/asgi.py": source}) == []


CONSUMERS = """
from channels.consumer import AsyncConsumer
from channels.generic.http import AsyncHttpConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer, AsyncWebsocketConsumer, WebsocketConsumer

from longrun.consumers import NoHopDispatchMixin
"""


def consumers(body: str) -> dict[str, str]:
    return {"app/consumers.py": CONSUMERS + body}


def test_an_async_consumer_on_channels_dispatch_is_reported_at_its_class_as_an_info(audit: Audit):
    findings = hops(audit, consumers("\n\nclass Chat(AsyncJsonWebsocketConsumer):\n    pass\n"))
    assert placed(findings) == [("LR305", "app/consumers.py", 8)]
    assert findings[0].severity == "info"
    assert findings[0].message.startswith("`Chat` hops to a thread before every message")
    assert "Put `longrun.consumers.NoHopDispatchMixin` first in its bases." in findings[0].message


@pytest.mark.parametrize("base", ["AsyncConsumer", "AsyncWebsocketConsumer", "AsyncHttpConsumer"])
def test_every_async_consumer_class_of_channels_dispatches_with_the_hop(audit: Audit, base: str):
    assert len(hops(audit, consumers(f"\n\nclass Chat({base}):\n    pass\n"))) == 1


def test_a_consumer_with_the_mixin_is_not_reported(audit: Audit):
    assert hops(audit, consumers("\n\nclass Chat(NoHopDispatchMixin, AsyncJsonWebsocketConsumer):\n    pass\n")) == []


def test_a_sync_consumer_is_not_reported(audit: Audit):
    # Its handlers run on a thread anyway: the hop is the handler's own.
    assert hops(audit, consumers("\n\nclass Chat(WebsocketConsumer):\n    pass\n")) == []


def test_consumers_built_on_a_project_base_are_reported_once_at_the_base_naming_them(audit: Audit):
    body = """

class Base(AsyncWebsocketConsumer):
    pass


class Lobby(Base):
    pass


class Room(Base):
    pass
"""
    (finding,) = hops(audit, consumers(body))
    assert finding.line == 8
    assert finding.message.startswith("`Base` and what is built on it (`Lobby`, `Room`) hop to a thread")
    assert "first in `Base`'s bases" in finding.message


def test_a_base_consumer_in_another_module_is_followed(audit: Audit):
    files = consumers("\n\nclass Base(AsyncWebsocketConsumer):\n    pass\n")
    files["app/rooms.py"] = "from app.consumers import Base\n\n\nclass Room(Base):\n    pass\n"
    assert placed(hops(audit, files)) == [("LR305", "app/consumers.py", 8)]


def test_a_base_with_the_mixin_covers_the_consumers_built_on_it(audit: Audit):
    body = "\n\nclass Base(NoHopDispatchMixin, AsyncWebsocketConsumer):\n    pass\n\n\nclass Room(Base):\n    pass\n"
    assert hops(audit, consumers(body)) == []


def test_subclasses_that_add_the_mixin_leave_their_unrouted_base_alone(audit: Audit):
    body = "\n\nclass Base(AsyncWebsocketConsumer):\n    pass\n\n\nclass Room(NoHopDispatchMixin, Base):\n    pass\n"
    assert hops(audit, consumers(body)) == []


def test_a_base_routed_itself_is_reported_though_its_subclasses_have_the_mixin(audit: Audit):
    body = "\n\nclass Base(AsyncWebsocketConsumer):\n    pass\n\n\nclass Room(NoHopDispatchMixin, Base):\n    pass\n"
    files = consumers(body)
    routing = 'from django.urls import path\n\nfrom app.consumers import Base\n\nurls = [path("ws/", Base.as_asgi())]\n'
    files["app/routing.py"] = routing
    assert placed(hops(audit, files)) == [("LR305", "app/consumers.py", 8)]


def test_a_consumer_that_replaces_dispatch_without_calling_channels_is_not_reported(audit: Audit):
    body = """

class Chat(AsyncWebsocketConsumer):
    async def dispatch(self, message):
        await getattr(self, message["type"].replace(".", "_"))(message)
"""
    assert hops(audit, consumers(body)) == []


def test_a_consumer_whose_dispatch_calls_channels_dispatch_is_reported(audit: Audit):
    body = """

class Chat(AsyncWebsocketConsumer):
    async def dispatch(self, message):
        self.seen = message["type"]
        await super().dispatch(message)
"""
    assert [f.line for f in hops(audit, consumers(body))] == [8]
