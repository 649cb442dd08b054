"""The race's servers: started on demand, saying what starts and why, kept warm while a dashboard is open."""

from __future__ import annotations

import asyncio

import pytest

from llm_app.dashboard.race_servers import RaceServers
from tests.llm_app.dashboard.conftest import StandIns


async def urls_of(servers: RaceServers, phases: list[str] | None = None) -> dict[str, str]:
    async with servers.use((phases if phases is not None else []).append) as urls:
        return urls


async def stopped(stand_ins: StandIns) -> bool:
    for _ in range(100):
        if all(process.poll() is not None for process in stand_ins.processes):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_the_first_use_says_which_servers_start_and_why(race_servers: RaceServers):
    phases: list[str] = []
    await urls_of(race_servers, phases)
    assert "migrate" in phases[0]
    assert any("gunicorn" in p and "5 sync workers" in p and "daphne" in p for p in phases)


async def test_each_lane_gets_its_own_server(race_servers: RaceServers, stand_ins: StandIns):
    urls = await urls_of(race_servers)
    assert sorted(urls) == ["async", "sync"] and urls["sync"] != urls["async"]
    assert sorted(stand_ins.launched) == ["daphne", "gunicorn"]


async def test_while_a_dashboard_is_open_the_next_use_finds_them_warm(race_servers: RaceServers, stand_ins):
    race_servers.watch()
    first = await urls_of(race_servers)
    await asyncio.sleep(race_servers.keep_warm_s * 2)
    phases: list[str] = []
    assert await urls_of(race_servers, phases) == first
    assert len(stand_ins.launched) == 2 and "already running" in phases[-1]


async def test_they_stop_a_while_after_the_last_dashboard_closes(race_servers: RaceServers, stand_ins):
    race_servers.watch()
    await urls_of(race_servers)
    race_servers.unwatch()
    assert race_servers.warm, "not at once: a reload must find them"
    assert await stopped(stand_ins)
    assert not race_servers.warm


async def test_a_dashboard_opening_again_in_time_keeps_them(race_servers: RaceServers, stand_ins):
    race_servers.watch()
    await urls_of(race_servers)
    race_servers.unwatch()
    race_servers.watch()
    await asyncio.sleep(race_servers.keep_warm_s * 2)
    assert race_servers.warm


async def test_a_server_that_died_is_started_again_with_its_partner(race_servers: RaceServers, stand_ins):
    race_servers.watch()
    await urls_of(race_servers)
    stand_ins.processes[0].kill()
    stand_ins.processes[0].wait()
    await urls_of(race_servers)
    assert len(stand_ins.launched) == 4
    assert all(p.poll() is None for p in stand_ins.processes[2:])


async def test_a_failed_start_stops_the_server_that_did_start(race_servers: RaceServers, stand_ins):
    stand_ins.refuse.add("daphne")
    with pytest.raises(RuntimeError, match="daphne exited"):
        await urls_of(race_servers)
    assert stand_ins.launched == ["gunicorn"] and await stopped(stand_ins)
