"""NoHopDispatchMixin: a Channels consumer handles each message without a thread hop when none is needed."""

from __future__ import annotations

import pytest
from channels.generic.http import AsyncHttpConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import HttpCommunicator, WebsocketCommunicator

from longrun.consumers import NoHopDispatchMixin
from longrun.hops import count_hops


class Echo(AsyncWebsocketConsumer):  # type: ignore[misc]
    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data)


class NoHopEcho(NoHopDispatchMixin, Echo):
    pass


async def echo_hops(consumer) -> int:
    communicator = WebsocketCommunicator(consumer.as_asgi(), "/")
    connected, _ = await communicator.connect()
    assert connected
    with count_hops() as hops:
        await communicator.send_to(text_data="ping")
        assert await communicator.receive_from() == "ping"
    await communicator.disconnect()
    return hops.sync_to_async


@pytest.mark.django_db(transaction=True)  # Channels' housekeeping may touch a connection an earlier test left
async def test_channels_hops_to_a_thread_before_each_message():
    assert await echo_hops(Echo) == 1


async def test_the_mixin_handles_a_message_without_a_hop():
    assert await echo_hops(NoHopEcho) == 0


class RecordingNoHopEcho(NoHopEcho):
    codes: list[int] = []

    async def disconnect(self, code):
        self.codes.append(code)


async def test_the_mixin_still_runs_the_consumer_s_disconnect_and_ends_the_consumer():
    RecordingNoHopEcho.codes = []
    communicator = WebsocketCommunicator(RecordingNoHopEcho.as_asgi(), "/")
    await communicator.connect()
    with count_hops() as hops:
        await communicator.disconnect(code=4001)
        # wait() raises if the application is still running or ended with an exception: StopConsumer ends it.
        await communicator.wait(timeout=2)
    assert RecordingNoHopEcho.codes == [4001]
    assert hops.sync_to_async == 0


class Hello(AsyncHttpConsumer):  # type: ignore[misc]
    async def handle(self, body: bytes) -> None:
        await self.send_response(200, b"hello", headers=[(b"Content-Type", b"text/plain")])


class NoHopHello(NoHopDispatchMixin, Hello):
    pass


async def hello_hops(consumer) -> int:
    with count_hops() as hops:
        response = await HttpCommunicator(consumer.as_asgi(), "GET", "/").get_response()
    assert (response["status"], response["body"]) == (200, b"hello")
    return hops.sync_to_async


@pytest.mark.django_db(transaction=True)
async def test_channels_hops_to_a_thread_before_an_http_consumer_s_request():
    assert await hello_hops(Hello) == 1


async def test_the_mixin_serves_an_http_consumer_without_a_hop():
    assert await hello_hops(NoHopHello) == 0
