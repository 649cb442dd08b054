"""Sampling a process tree: the CPU its children burn, whenever they start or end, and its threads and memory."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
import pytest

from longrun.loadgen.procstats import ProcessTreeSampler, sample_tree

# psutil reads CPU times in clock ticks (10 ms), getrusage in microseconds; a few ticks apart at most.
TICKS = 0.05
BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"
# Starts 8 threads that sleep, says so, then waits to be killed.
THREADS = (
    "import sys, threading, time\n"
    "for _ in range(8): threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    "print('ready', flush=True)\n"
    "time.sleep(60)\n"
)
# Starts a grandchild that burns 0.5 s of CPU, waits for it, then says so and waits to be killed.
PARENT_OF_BURNER = (
    "import subprocess, sys, time\n"
    f"subprocess.run([sys.executable, '-c', {BURN.format(seconds=0.5)!r}])\n"
    "print('done', flush=True)\n"
    "time.sleep(60)\n"
)


@contextmanager
def child(script: str, *, until: str | None = None) -> Iterator[subprocess.Popen[str]]:
    """A Python child running ``script``, yielded once it has printed the line ``until``; killed at the end."""
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        if until is not None:
            assert next_line(process) == until
        yield process
    finally:
        process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()


def next_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    return process.stdout.readline().removesuffix("\n")


def burn(seconds: float) -> subprocess.Popen[str]:
    """A child that spends ``seconds`` of CPU (process time, so a busy machine does not shorten it)."""
    return subprocess.Popen([sys.executable, "-c", BURN.format(seconds=seconds)], text=True)


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def test_a_child_that_starts_and_exits_in_the_window_is_counted() -> None:
    children_before = cpu(resource.RUSAGE_CHILDREN)
    with ProcessTreeSampler(os.getpid(), interval=0.05) as sampler:
        own_before = cpu(resource.RUSAGE_SELF)
        burn(0.5).wait()
        own = cpu(resource.RUSAGE_SELF) - own_before
    child = cpu(resource.RUSAGE_CHILDREN) - children_before
    assert sampler.result is not None
    assert child >= 0.5
    assert sampler.result.cpu_s == pytest.approx(child + own, abs=TICKS)


def test_a_child_alive_at_the_start_that_exits_in_the_window_counts_only_its_time_in_the_window() -> None:
    children_before = cpu(resource.RUSAGE_CHILDREN)
    process = burn(0.8)
    time.sleep(0.3)
    times = psutil.Process(process.pid).cpu_times()
    before_window = times.user + times.system
    with ProcessTreeSampler(os.getpid(), interval=0.05) as sampler:
        own_before = cpu(resource.RUSAGE_SELF)
        process.wait()
        own = cpu(resource.RUSAGE_SELF) - own_before
    child = cpu(resource.RUSAGE_CHILDREN) - children_before
    assert sampler.result is not None
    assert before_window > 0
    assert sampler.result.cpu_s == pytest.approx(child - before_window + own, abs=TICKS)


def test_a_grandchilds_burn_is_counted_for_the_tree() -> None:
    # Sampled from before the grandchild starts: the line comes once it has burnt its CPU and exited.
    with child(PARENT_OF_BURNER) as process, ProcessTreeSampler(process.pid, interval=0.05) as sampler:
        assert next_line(process) == "done"
    assert sampler.result is not None
    assert sampler.result.cpu_s >= 0.5


def test_the_cpu_percent_is_the_cpu_over_the_window() -> None:
    with ProcessTreeSampler(os.getpid(), interval=0.05) as sampler:
        burn(0.3).wait()
    stats = sampler.result
    assert stats is not None
    assert stats.cpu_percent == pytest.approx(100 * stats.cpu_s / stats.window_s)


def test_the_threads_of_a_child_are_counted() -> None:
    with child(THREADS, until="ready") as process, ProcessTreeSampler(process.pid, interval=0.05) as sampler:
        time.sleep(0.15)
    assert sampler.result is not None
    assert sampler.result.peak_threads >= 9
    assert sampler.result.peak_processes == 1


def test_the_tree_sums_the_threads_of_parent_and_children() -> None:
    with child(THREADS, until="ready"):
        own = psutil.Process(os.getpid()).num_threads()
        with ProcessTreeSampler(os.getpid(), interval=0.05) as sampler:
            time.sleep(0.15)
    assert sampler.result is not None
    assert sampler.result.peak_threads >= own + 9
    assert sampler.result.peak_processes >= 2


def test_the_peak_memory_is_that_of_the_live_processes() -> None:
    with ProcessTreeSampler(os.getpid(), interval=0.05) as sampler:
        time.sleep(0.1)
    assert sampler.result is not None
    assert sampler.result.peak_rss_bytes > 10 * 1024 * 1024  # a Python process with pytest loaded
    assert sampler.result.peak_rss_mib == sampler.result.peak_rss_bytes / 2**20


def test_the_sampler_samples_at_its_interval_until_stopped() -> None:
    with ProcessTreeSampler(os.getpid(), interval=0.02) as sampler:
        time.sleep(0.3)
    assert sampler.result is not None
    assert sampler.result.samples >= 3  # the first, the last, and some in between


def test_one_sample_sees_the_whole_tree() -> None:
    with child(THREADS, until="ready"):
        sample = sample_tree(psutil.Process(os.getpid()))
    assert sample.processes >= 2 and sample.threads >= 1 + 9 and sample.rss_bytes > 0


async def test_the_sampler_works_as_an_async_context_manager() -> None:
    async with ProcessTreeSampler(os.getpid(), interval=0.05) as sampler:
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", BURN.format(seconds=0.3))
        await process.wait()
    assert sampler.result is not None
    assert sampler.result.cpu_s >= 0.3


def test_start_and_stop_return_the_figures() -> None:
    sampler = ProcessTreeSampler(os.getpid(), interval=0.05)
    sampler.start()
    stats = sampler.stop()
    assert stats is sampler.result
    assert stats.pid == os.getpid() and stats.window_s > 0


def test_the_figures_convert_to_json() -> None:
    with ProcessTreeSampler(os.getpid(), interval=0.05) as sampler:
        pass
    assert sampler.result is not None
    data = json.loads(json.dumps(sampler.result.as_dict()))
    assert set(data) >= {"cpu_s", "cpu_percent", "peak_rss_bytes", "peak_threads", "window_s"}


def test_a_sampler_cannot_be_stopped_before_it_starts() -> None:
    with pytest.raises(RuntimeError):
        ProcessTreeSampler(os.getpid()).stop()
