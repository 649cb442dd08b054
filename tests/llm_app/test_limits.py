"""The in-flight cap: slots, the bounded first-come-first-served wait, and the error that names the fix."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from llm_app.services import limits
from llm_app.services.limits import InFlightCap


def test_a_cap_gives_slots_up_to_its_capacity_then_none_without_waiting():
    cap = InFlightCap(2)
    first, second = cap.acquire(timeout=0), cap.acquire(timeout=0)
    assert first is not None and second is not None
    assert cap.acquire(timeout=0) is None
    assert cap.in_flight == 2


def test_releasing_a_slot_twice_frees_it_once():
    cap = InFlightCap(1)
    slot = cap.acquire(timeout=0)
    slot.release()
    slot.release()
    assert cap.in_flight == 0
    assert cap.acquire(timeout=0) is not None
    assert cap.acquire(timeout=0) is None


def test_a_waiting_thread_gets_the_slot_released_by_another():
    cap = InFlightCap(1)
    held = cap.acquire(timeout=0)
    got = []
    waiter = threading.Thread(target=lambda: got.append(cap.acquire(timeout=10)))
    waiter.start()
    while cap.waiting == 0:
        time.sleep(0.001)
    held.release()
    waiter.join(10)
    assert got[0] is not None
    assert (cap.in_flight, cap.waiting) == (1, 0)


def test_a_waiting_thread_gives_up_after_its_timeout_and_leaves_the_queue():
    cap = InFlightCap(1)
    cap.acquire(timeout=0)
    assert cap.acquire(timeout=0.05) is None
    assert (cap.in_flight, cap.waiting) == (1, 0)


async def full_with_a_waiter():
    """A cap of one, its slot held, and a coroutine queued for it: (cap, held slot, the waiting task)."""
    cap = InFlightCap(1)
    held = cap.acquire(timeout=0)
    waiting = asyncio.create_task(cap.aacquire(timeout=10))
    while cap.waiting < 1:
        await asyncio.sleep(0.001)
    return cap, held, waiting


async def test_waiters_are_served_in_arrival_order_whatever_their_kind():
    cap = InFlightCap(1)
    held = cap.acquire(timeout=0)
    order = []

    async def coroutine_waiter(name):
        slot = await cap.aacquire(timeout=10)
        order.append(name)
        slot.release()

    first = asyncio.create_task(coroutine_waiter("loop-1"))
    while cap.waiting < 1:
        await asyncio.sleep(0.001)
    thread_got = []

    def thread_waiter():
        slot = cap.acquire(timeout=10)
        thread_got.append(slot)
        order.append("thread")
        slot.release()

    thread = threading.Thread(target=thread_waiter)
    thread.start()
    while cap.waiting < 2:
        await asyncio.sleep(0.001)
    third = asyncio.create_task(coroutine_waiter("loop-2"))
    while cap.waiting < 3:
        await asyncio.sleep(0.001)
    held.release()
    await asyncio.gather(first, third)
    await asyncio.to_thread(thread.join, 10)
    assert order == ["loop-1", "thread", "loop-2"]
    assert (cap.in_flight, cap.waiting) == (0, 0)


async def test_a_newcomer_does_not_jump_the_queue_when_a_slot_frees():
    cap, held, waiting = await full_with_a_waiter()
    held.release()
    # The slot went to the waiter as it was released: it was never free for this newcomer to take.
    assert cap.acquire(timeout=0) is None
    (await waiting).release()
    assert cap.in_flight == 0


async def test_a_coroutine_cancelled_while_waiting_leaves_the_queue_and_takes_no_slot():
    cap, held, waiting = await full_with_a_waiter()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert (cap.in_flight, cap.waiting) == (1, 0)
    held.release()
    assert cap.in_flight == 0


async def test_a_slot_granted_to_a_coroutine_cancelled_before_it_ran_is_handed_on():
    cap, held, waiting = await full_with_a_waiter()
    # Granted and cancelled in the same turn of the loop: the waiter never used the slot.
    held.release()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert cap.in_flight == 0


async def test_a_waiting_coroutine_gives_up_after_its_timeout():
    cap = InFlightCap(1)
    cap.acquire(timeout=0)
    assert await cap.aacquire(timeout=0.05) is None
    assert (cap.in_flight, cap.waiting) == (1, 0)


def test_without_a_cap_every_call_gets_a_slot(settings):
    settings.LLM_MAX_IN_FLIGHT = 0
    assert limits.take_slot() is limits.UNLIMITED
    assert limits.current_cap() is None


def test_past_the_cap_take_slot_raises_an_error_that_says_when_to_retry_and_what_to_change(settings):
    settings.LLM_MAX_IN_FLIGHT = 1
    settings.LLM_QUEUE_TIMEOUT = 0.05
    held = limits.take_slot()
    try:
        with pytest.raises(limits.OverCapacity) as refused:
            limits.take_slot()
    finally:
        held.release()
    assert refused.value.http_status == 503
    assert refused.value.retry_after == 1
    assert refused.value.waited_ms >= 45
    assert "LLM_MAX_IN_FLIGHT=1" in refused.value.message
    assert "LLM_QUEUE_TIMEOUT=0.05s" in refused.value.message
    assert "add server processes" in refused.value.message


async def test_atake_slot_waits_for_a_slot_and_then_takes_it(settings):
    settings.LLM_MAX_IN_FLIGHT = 1
    settings.LLM_QUEUE_TIMEOUT = 10
    held = await limits.atake_slot()
    waiting = asyncio.create_task(limits.atake_slot())
    await asyncio.sleep(0.05)
    assert not waiting.done()
    held.release()
    slot = await waiting
    assert slot.held
    slot.release()
    assert limits.current_cap().in_flight == 0
