"""Calls left streaming by a dead process are closed as errors; a live process's calls never are."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from llm_app import recovery
from llm_app.models import Conversation, LLMCall, Message, Status
from llm_app.recovery import ABANDONED_AFTER, Owner, close_orphaned_calls

pytestmark = pytest.mark.django_db(transaction=True)


def streaming_call(owner: str, *, content: str = "partial text", age: timedelta = timedelta()) -> LLMCall:
    conversation = Conversation.objects.create(title="t")
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, content=content, status=Status.STREAMING
    )
    return LLMCall.objects.create(
        conversation=conversation,
        message=message,
        path="async",
        interface="asgi",
        model="m",
        started_at=timezone.now() - age,
        status=Status.STREAMING,
        owner=owner,
    )


def dead_owner() -> str:
    """The owner of a process that ran and exited: a real pid, now free (or taken by a later process)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    started = recovery._start_time(child.pid)
    child.wait()
    return str(Owner(host=socket.gethostname(), pid=child.pid, started=started or 0.0))


def test_a_call_of_a_process_that_died_is_closed_as_an_error_that_says_so():
    call = streaming_call(dead_owner(), content="")
    assert close_orphaned_calls() == 1
    call.refresh_from_db()
    assert call.status == Status.ERROR
    assert "stopped (crashed or was killed)" in call.error
    assert "send the prompt again" in call.error
    assert call.message.status == Status.ERROR


def test_a_call_of_a_live_process_is_left_streaming():
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"]) as sibling:
        try:
            owner = Owner(host=socket.gethostname(), pid=sibling.pid, started=recovery._start_time(sibling.pid) or 0)
            call = streaming_call(str(owner))
            assert close_orphaned_calls() == 0
            call.refresh_from_db()
            assert call.status == Status.STREAMING
        finally:
            sibling.kill()


def test_a_live_pid_that_started_at_another_time_is_a_later_process_so_the_call_is_closed():
    owner = Owner(host=socket.gethostname(), pid=os.getppid(), started=1.0)
    call = streaming_call(str(owner))
    assert close_orphaned_calls() == 1
    call.refresh_from_db()
    assert call.status == Status.ERROR


def test_the_sweeping_process_never_closes_its_own_calls():
    call = streaming_call(recovery.owner_of_this_process())
    assert close_orphaned_calls() == 0
    call.refresh_from_db()
    assert call.status == Status.STREAMING


@pytest.mark.parametrize("owner", ["otherhost 4242 1700000000.00", ""], ids=["another-host", "unrecorded"])
def test_a_call_whose_owner_cannot_be_checked_is_closed_only_once_it_is_far_too_old(owner):
    young = streaming_call(owner, age=timedelta(minutes=5))
    old = streaming_call(owner, age=ABANDONED_AFTER + timedelta(minutes=1))
    assert close_orphaned_calls() == 1
    young.refresh_from_db()
    old.refresh_from_db()
    assert young.status == Status.STREAMING
    assert old.status == Status.ERROR
    assert f"still open {ABANDONED_AFTER}" in old.error


def test_finished_calls_are_never_touched():
    call = streaming_call(dead_owner())
    LLMCall.objects.filter(pk=call.pk).update(status=Status.CANCELLED)
    Message.objects.filter(pk=call.message_id).update(status=Status.CANCELLED)
    assert close_orphaned_calls() == 0
    call.refresh_from_db()
    assert call.status == Status.CANCELLED


def test_an_owner_round_trips_through_its_column_and_garbage_parses_as_unknown():
    owner = Owner(host="web-1.example", pid=123, started=1700000000.25)
    assert Owner.parse(str(owner)) == owner
    assert Owner.parse("") is None
    assert Owner.parse("no pid here") is None


def test_the_command_closes_them_and_says_how_many(capsys):
    streaming_call(dead_owner())
    call_command("close_orphaned_calls")
    assert "Closed 1 call(s)" in capsys.readouterr().out


@pytest.fixture
def sweeper(monkeypatch) -> Iterator[recovery._Sweeper]:
    """A sweeper of this test's own in place of the process's, its thread stopped at the end."""
    fresh = recovery._Sweeper()
    monkeypatch.setattr(recovery, "sweeper", fresh)
    yield fresh
    fresh.stop()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_recording_a_call_writes_its_owner_and_starts_one_sweep_per_interval(llm, settings, monkeypatch, sweeper):
    from llm_app.services import llm as service
    from llm_app.services.schemas import ChatRequest

    settings.LLM_ORPHAN_SWEEP_S = 3600
    sweeps = []
    done = threading.Event()

    def counted() -> int:
        sweeps.append(1)
        done.set()
        return 0

    monkeypatch.setattr(recovery, "close_orphaned_calls", counted)
    for _ in range(3):
        service.complete(request=ChatRequest(prompt="Hi", max_tokens=1), path="sync", interface="wsgi")
    assert done.wait(5)
    assert len(sweeps) == 1
    assert set(LLMCall.objects.values_list("owner", flat=True)) == {recovery.owner_of_this_process()}


def sweep_once(sweeper: recovery._Sweeper) -> None:
    """Pokes ``sweeper`` when it is due and waits until that sweep has run."""
    before = sweeper.sweeps
    sweeper.poke()
    assert wait_for(lambda: sweeper.sweeps == before + 1), "the sweep did not run"


def test_every_sweep_runs_on_one_thread_so_the_threads_are_the_same_before_and_after_many(
    settings, monkeypatch, sweeper
):
    settings.LLM_ORPHAN_SWEEP_S = 0
    sweepers: list[int] = []

    def counted() -> int:
        sweepers.append(threading.get_ident())
        return 0

    monkeypatch.setattr(recovery, "close_orphaned_calls", counted)
    sweep_once(sweeper)
    threads = set(threading.enumerate())
    for _ in range(20):
        sweep_once(sweeper)
    assert set(threading.enumerate()) == threads
    assert len(sweepers) == 21
    assert set(sweepers) == {sweeper.thread.ident}


def test_stopping_the_sweeper_ends_its_thread_and_a_later_call_starts_another(settings, monkeypatch, sweeper):
    settings.LLM_ORPHAN_SWEEP_S = 0
    monkeypatch.setattr(recovery, "close_orphaned_calls", lambda: 0)
    sweep_once(sweeper)
    first = sweeper.thread
    sweeper.stop()
    assert not first.is_alive()
    assert sweeper.thread is None
    sweep_once(sweeper)
    assert sweeper.thread is not first and sweeper.thread.is_alive()


def test_stopping_waits_for_the_sweep_that_is_running(settings, monkeypatch, sweeper):
    settings.LLM_ORPHAN_SWEEP_S = 0
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def slow() -> int:
        started.set()
        release.wait(10)
        finished.set()
        return 0

    monkeypatch.setattr(recovery, "close_orphaned_calls", slow)
    sweeper.poke()
    assert started.wait(10)
    stopping = threading.Thread(target=sweeper.stop)
    stopping.start()
    stopping.join(0.2)
    assert stopping.is_alive()  # held by the sweep, which cannot end before it is released
    release.set()
    stopping.join(10)
    assert finished.is_set()
    assert not stopping.is_alive()


def test_a_failing_sweep_is_logged_and_the_next_one_still_runs(settings, monkeypatch, sweeper, caplog):
    settings.LLM_ORPHAN_SWEEP_S = 0
    outcomes = iter([RuntimeError("database gone"), 0])

    def flaky() -> int:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(recovery, "close_orphaned_calls", flaky)
    sweep_once(sweeper)
    sweep_once(sweeper)
    assert "The sweep for calls left streaming by a dead process failed" in caplog.text
    assert sweeper.sweeps == 2
