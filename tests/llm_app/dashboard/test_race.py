"""The race's timeline, against stand-in servers: rounds of five on the pool, everyone at once on the async lane.

The stand-ins (``race_app.py``) stream like the app and start in a second; the real gunicorn and daphne are
raced in the browser test. The assertions are about the shape of the race (how many users waited for another to
be served before their first token, which lane finished first), never about how fast this machine is.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Iterator
from typing import Any

import pytest

from llm_app.dashboard import race
from llm_app.dashboard.race_servers import RaceServers
from tests.llm_app.dashboard.conftest import StandIns, no_database

USERS = 12


@pytest.fixture(autouse=True)
def in_memory_layer(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


async def a_race(users: int = USERS) -> race.Race:
    state = race.Race(users=users)
    await race.run(state)
    assert state.state == "done", state.error
    return state


@pytest.fixture(scope="module")
def finished() -> Iterator[race.Race]:
    """One race of USERS users against stand-ins, run once for the tests that only read its outcome."""
    servers = RaceServers(keep_warm_s=0.2, launcher=StandIns().launch, prepare=no_database)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(race, "servers", servers)

        async def run_and_stop() -> race.Race:
            try:
                return await a_race()
            finally:
                await servers.astop()

        yield asyncio.run(run_and_stop())


def waited_for_another(lane: race.Lane) -> int:
    """How many users got their first token only after another user of the lane had been served: they queued."""
    first_end = min(e.end_s for e in lane.entrants if e.end_s is not None)
    return sum(1 for e in lane.entrants if e.first_s is not None and e.first_s >= first_end)


async def test_the_pool_serves_five_users_at_a_time_and_the_rest_wait_their_turn(finished: race.Race):
    assert waited_for_another(finished.lanes["sync"]) == USERS - race.WORKERS


async def test_the_async_lane_serves_every_user_at_once(finished: race.Race):
    assert waited_for_another(finished.lanes["async"]) == 0


async def test_the_time_axis_unit_is_the_median_of_the_calls_the_servers_timed(finished: race.Race):
    calls = [e.call_s for lane in finished.lanes.values() for e in lane.entrants]
    assert len(calls) == 2 * USERS and None not in calls
    assert finished.call_s == statistics.median(calls)


async def test_the_async_lane_serves_its_last_user_before_the_pool_does(finished: race.Race):
    lanes = finished.lanes
    assert (lanes["async"].finished_s or 0) < (lanes["sync"].finished_s or 0)


async def test_every_user_has_a_timeline_from_its_request_to_its_last_token(finished: race.Race):
    for lane in finished.lanes.values():
        assert len(lane.entrants) == USERS
        for entrant in lane.entrants:
            assert entrant.state == "done" and entrant.tokens == race.TOKENS
            assert entrant.sent_s is not None and entrant.first_s is not None and entrant.end_s is not None
            assert 0 <= entrant.sent_s <= entrant.first_s <= entrant.end_s


async def test_the_clock_stops_when_the_last_user_is_served(finished: race.Race):
    last = max(lane.finished_s or 0 for lane in finished.lanes.values())
    stopped = finished.as_dict()["elapsed_s"]
    await asyncio.sleep(0.3)
    assert finished.as_dict()["elapsed_s"] == stopped == round(last, 2)


async def test_a_server_that_fails_to_start_ends_the_race_with_its_error(race_servers: RaceServers, stand_ins):
    stand_ins.refuse.add("gunicorn")
    state = race.Race(users=2)
    await race.run(state)
    assert state.state == "error" and "gunicorn exited" in state.error
    assert stand_ins.launched == ["daphne"], "gunicorn refused to start"
    assert all(process.poll() is not None for process in stand_ins.processes), "daphne is stopped again"
    assert state.as_dict()["elapsed_s"] == 0.0


async def test_the_state_is_published_to_the_race_group_until_the_end(race_servers: RaceServers):
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(race.GROUP, channel)
    await a_race(users=2)
    states = []
    while True:
        message = await asyncio.wait_for(layer.receive(channel), timeout=5)
        states.append(message["race"]["state"])
        if states[-1] == "done":
            break
    assert "starting" in states and "running" in states


@pytest.mark.parametrize("users", [0, race.MAX_USERS + 1, "8", True, 2.5])
def test_a_number_of_users_that_is_not_a_whole_number_in_range_is_refused(users):
    assert race.parse_users(users) is None


def test_a_whole_number_in_range_is_a_number_of_users():
    assert race.parse_users(race.MAX_USERS) == race.MAX_USERS
