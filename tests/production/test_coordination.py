"""What processes share through Redis: a lock only one holder has, and the race it guards.

Two ``Lock`` objects of one name are two processes' holders: each has a token of its own, and all they share
is the key in Redis.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid

import pytest

from llm_app.dashboard import race
from llm_app.services import coordination, rate_limit
from llm_app.services.coordination import Lock
from llm_app.services.limits import RateLimited

pytestmark = pytest.mark.redis


@pytest.fixture
async def shared_redis(settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.REDIS_KEY_PREFIX = f"longrun-test-{uuid.uuid4().hex[:8]}"
    yield
    await coordination.aclose_redis()


async def test_a_lock_held_by_one_process_is_refused_to_another_until_released(shared_redis):
    here, elsewhere = Lock("job", ttl_s=10), Lock("job", ttl_s=10)
    assert await here.aacquire()
    assert not await elsewhere.aacquire()
    await here.arelease()
    assert await elsewhere.aacquire()
    await elsewhere.arelease()


async def test_a_lock_is_not_taken_twice_by_its_own_holder(shared_redis):
    lock = Lock("job", ttl_s=10)
    assert await lock.aacquire()
    assert not await lock.aacquire()
    await lock.arelease()


async def test_a_lock_whose_holder_stopped_renewing_expires_and_cannot_be_renewed_or_freed_by_it(shared_redis):
    crashed, successor = Lock("job", ttl_s=0.2), Lock("job", ttl_s=10)
    assert await crashed.aacquire()
    await asyncio.sleep(0.3)
    assert await successor.aacquire()
    assert not await crashed.arenew()
    await crashed.arelease()
    assert not await Lock("job", ttl_s=10).aacquire()
    await successor.arelease()


async def test_a_race_is_refused_while_another_process_runs_one(shared_redis):
    other_process = Lock("race", ttl_s=10)
    assert await other_process.aacquire()
    try:
        assert await race.astart(2, runner=lambda _: asyncio.sleep(0)) is None
    finally:
        await other_process.arelease()


async def test_a_race_holds_the_lock_while_it_runs_and_frees_it_at_the_end(shared_redis):
    release = asyncio.Event()

    async def runner(_race):
        await release.wait()

    assert await race.astart(2, runner=runner) is not None
    assert not await Lock("race", ttl_s=10).aacquire()
    release.set()
    while race.is_running():
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    other_process = Lock("race", ttl_s=10)
    assert await other_process.aacquire()
    await other_process.arelease()


async def test_the_rate_limit_window_in_redis_is_shared_by_every_caller(shared_redis, settings):
    settings.LLM_RATE_LIMIT = "2/min"
    before = time.monotonic()
    await rate_limit.acheck(client="ip:192.0.2.1")
    await asyncio.to_thread(rate_limit.check, client="ip:192.0.2.1")
    with pytest.raises(RateLimited) as refused:
        await rate_limit.acheck(client="ip:192.0.2.1")
    after = time.monotonic()
    # The first request's place frees 60 s after it: bracketed by the clock around the three requests.
    assert math.floor(60 - (after - before)) <= refused.value.retry_after <= 60
    await rate_limit.acheck(client="ip:192.0.2.2")
