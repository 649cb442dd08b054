"""The loop sampler inside a soaked server: one line per window, with the loop's lateness and its tasks."""

from __future__ import annotations

import asyncio
import json
import time

from llm_app.soak.probe import LoopSampler, _task_kind


async def test_a_window_reports_the_lateness_a_blocked_loop_caused(tmp_path):
    probe = tmp_path / "probe.jsonl"
    sampler = LoopSampler(probe, interval_s=0.3)
    sampler.start()
    await asyncio.sleep(0.05)
    # Busy work, not time.sleep (the suite's blocking detector would stop that): the loop is blocked 150 ms.
    busy_until = time.perf_counter() + 0.15
    while time.perf_counter() < busy_until:
        pass
    await asyncio.sleep(0.6)  # the 0.3 s window with the stall has ended and been written
    sampler.task.cancel()
    text = await asyncio.to_thread(probe.read_text)
    line = json.loads(text.splitlines()[0])
    assert line["lag_max_ms"] >= 100
    assert line["tasks"] >= 1
    assert ["LoopSampler._run", 1] in line["task_kinds"]  # running, as it counts: it waits on nothing then


async def waits_for_ever() -> None:
    await asyncio.Event().wait()


async def serves() -> None:
    await waits_for_ever()


async def test_a_task_s_kind_names_what_it_runs_and_the_innermost_coroutine_it_waits_in():
    task = asyncio.ensure_future(serves())
    await asyncio.sleep(0)
    try:
        assert _task_kind(task) == "serves > Event.wait"
    finally:
        task.cancel()
