"""What a server's processes cost while under load: CPU seconds, CPU %, peak memory, peak threads.

``ProcessTreeSampler(pid)`` samples the process and all its descendants (a gunicorn master and its workers, a
granian supervisor and its workers) from a background thread, so its sampling never waits on, nor delays, an
event loop driving the load. Use it as a context manager (sync or async) or with ``start()`` and ``stop()``.

CPU is counted for the whole tree, children that start or exit during the window included: each process
contributes its own user + system time plus that of the children it has reaped (Linux's ``cutime``/``cstime``,
psutil's ``children_user``/``children_system``). A child that exits and is reaped moves its whole lifetime into
its parent's figure, so the difference between the window's end and start counts it exactly, whether it was
alive at the start or not. Memory and threads are sums over the processes alive at each sample; their peaks
are as good as the sampling interval.

Needs ``psutil``, which the ``[loadgen]`` extra installs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any

from longrun.extras import MissingExtra

try:
    import psutil  # type: ignore[import-untyped,unused-ignore]
except ImportError as exc:
    raise MissingExtra("Process sampling (longrun.loadgen.procstats)", "loadgen", "psutil") from exc


@dataclass(frozen=True, slots=True)
class TreeSample:
    """One look at the tree: perf_counter time, CPU seconds so far, RSS bytes, threads, processes."""

    at: float
    cpu_s: float
    rss_bytes: int
    threads: int
    processes: int


@dataclass(frozen=True, slots=True)
class ProcessTreeStats:
    """The tree over one window."""

    pid: int
    window_s: float
    cpu_s: float  # user + system over the tree during the window
    cpu_percent: float  # cpu_s / window_s, in percent of one core (above 100 on several cores)
    peak_rss_bytes: int  # the largest sum of RSS over the tree at one sample
    peak_threads: int  # the largest sum of threads over the tree at one sample
    peak_processes: int
    samples: int

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_bytes / (1024 * 1024)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "peak_rss_mib": self.peak_rss_mib}


def sample_tree(root: psutil.Process) -> TreeSample:
    """Reads the tree once; a process that exits while it is read is skipped (its parent will count its CPU)."""
    cpu, rss, threads, processes = 0.0, 0, 0, 0
    try:
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        members = []
    # The root first: a child that exits after being read is then never counted twice (once read, once reaped).
    for process in members:
        try:
            with process.oneshot():
                times = process.cpu_times()
                memory = process.memory_info()
                count = process.num_threads()
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
        cpu += float(
            times.user + times.system + getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0)
        )
        rss += int(memory.rss)
        threads += int(count)
        processes += 1
    return TreeSample(at=time.perf_counter(), cpu_s=cpu, rss_bytes=rss, threads=threads, processes=processes)


class ProcessTreeSampler:
    """Samples process ``pid`` and its descendants every ``interval`` seconds between start and stop."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive.")
        self.pid = pid
        self.interval = interval
        self.result: ProcessTreeStats | None = None
        self._root: psutil.Process | None = None  # built in start(): it reads /proc, not for an event loop
        self._first: TreeSample | None = None
        self._last: TreeSample | None = None
        self._peak_rss = self._peak_threads = self._peak_processes = self._samples = 0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._started = 0.0

    def _take(self) -> None:
        assert self._root is not None
        sample = sample_tree(self._root)
        with self._lock:
            if sample.processes == 0:
                return  # the root is gone: the last sample with it stands
            if self._first is None:
                self._first = sample
            self._last = sample
            self._peak_rss = max(self._peak_rss, sample.rss_bytes)
            self._peak_threads = max(self._peak_threads, sample.threads)
            self._peak_processes = max(self._peak_processes, sample.processes)
            self._samples += 1

    def _loop(self) -> None:
        while not self._stopping.wait(self.interval):
            self._take()

    def start(self) -> None:
        """Takes the first sample now (the window's start) and starts sampling in a background thread."""
        if self._thread is not None:
            raise RuntimeError("This sampler has already been started.")
        self._root = psutil.Process(self.pid)
        self._started = time.perf_counter()
        self._take()
        self._thread = threading.Thread(target=self._loop, name=f"procstats-{self.pid}", daemon=True)
        self._thread.start()

    def stop(self) -> ProcessTreeStats:
        """Stops sampling, takes the last sample (the window's end) and returns the figures of the window."""
        if self._thread is None:
            raise RuntimeError("This sampler was never started.")
        if self.result is not None:
            return self.result
        self._stopping.set()
        self._thread.join()
        self._take()
        ended = time.perf_counter()
        window = ended - self._started
        cpu = self._last.cpu_s - self._first.cpu_s if self._first and self._last else 0.0
        cpu = max(cpu, 0.0)  # a descendant that exits unreaped takes its time with it
        self.result = ProcessTreeStats(
            pid=self.pid,
            window_s=window,
            cpu_s=cpu,
            cpu_percent=100.0 * cpu / window if window > 0 else 0.0,
            peak_rss_bytes=self._peak_rss,
            peak_threads=self._peak_threads,
            peak_processes=self._peak_processes,
            samples=self._samples,
        )
        return self.result

    def __enter__(self) -> ProcessTreeSampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> ProcessTreeSampler:
        await asyncio.to_thread(self.start)  # the first sample reads /proc: off the loop
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)  # the join waits for the sampling thread's current sample
