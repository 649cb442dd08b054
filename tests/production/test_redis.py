"""The Redis channel layer of the production configuration carries group messages from sync code."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers

from longrun.bridges import agroup_send, group_send

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_layer(settings, redis_url):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [redis_url]}}
    }
    channel_layers.backends.clear()
    layer = channel_layers["default"]
    yield layer
    channel_layers.backends.clear()


async def test_group_send_from_sync_code_reaches_a_member_through_redis(redis_layer):
    channel = await redis_layer.new_channel()
    await redis_layer.group_add("longrun-test", channel)
    try:
        await sync_to_async(group_send, thread_sensitive=False)("longrun-test", {"type": "figure.update", "value": 7})
        message = await asyncio.wait_for(redis_layer.receive(channel), timeout=5)
        assert message == {"type": "figure.update", "value": 7}
    finally:
        await redis_layer.group_discard("longrun-test", channel)
        await redis_layer.flush()


async def test_agroup_send_reaches_a_member_through_redis(redis_layer):
    channel = await redis_layer.new_channel()
    await redis_layer.group_add("longrun-test", channel)
    try:
        await agroup_send("longrun-test", {"type": "figure.update", "value": 8})
        message = await asyncio.wait_for(redis_layer.receive(channel), timeout=5)
        assert message["value"] == 8
    finally:
        await redis_layer.group_discard("longrun-test", channel)
        await redis_layer.flush()
