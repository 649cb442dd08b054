"""How much CPU the LLM simulator needs for many slow concurrent streams (a plain script, not a test).

Starts the simulator as a child process, opens ``--streams`` concurrent streamed chat completions against it
with a raw aiohttp client (all on loopback), and reports the simulator's CPU (user+system time over wall
time, in % of one core), its peak RSS, the load generator's own CPU, and how late the streams ended compared
with the ideal TTFT + N x token delay. Exits non-zero unless every stream got all its tokens and [DONE].

    .venv/bin/python benchmarks/simulator_cpu.py --streams 1000 --ttft-ms 200 --token-ms 40 --tokens 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from longrun.loadgen.runner import raise_nofile_limit
from longrun.simulator import SimulatorConfig, SimulatorProcess

PROMPT = [{"role": "user", "content": "Benchmark the simulator with a steady stream of tokens."}]


@dataclass
class StreamResult:
    """What one client stream saw."""

    tokens: int = 0
    sent_at: float = 0.0
    done: bool = False
    finish_reason: str | None = None
    first_token_s: float = 0.0
    total_s: float = 0.0
    error: str = ""

    @property
    def end_after_sent_s(self) -> float:
        """The server's share of the stream: from the request on the wire to the last byte."""
        return self.total_s - self.sent_at


async def on_headers_sent(session: aiohttp.ClientSession, context: object, params: object) -> None:
    """aiohttp's tracing hook once a request is on the wire: separates the ramp-up from the reply."""
    result = context.trace_request_ctx  # type: ignore[attr-defined]
    result.sent_at = time.perf_counter() - result.sent_at


@dataclass
class Sampler:
    """Samples the simulator's RSS while the streams run; /proc's VmHWM is preferred when it exists."""

    process: psutil.Process
    peak_rss: int = 0
    samples: list[int] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        """Samples until cancelled (a task for the whole benchmark)."""
        while not stop.is_set():
            rss = self.process.memory_info().rss
            self.peak_rss = max(self.peak_rss, rss)
            await asyncio.sleep(0.05)

    def peak(self) -> int:
        """The kernel's high-water mark if readable, else the sampled peak."""
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return self.peak_rss


async def one_stream(session: aiohttp.ClientSession, url: str, body: bytes) -> StreamResult:
    """One concurrent stream: reads it to the end and checks every chunk."""
    result = StreamResult()
    # Holds the start until on_headers_sent turns it into the sending delay.
    started = result.sent_at = time.perf_counter()
    try:
        headers = {"Content-Type": "application/json"}
        async with session.post(url, data=body, headers=headers, trace_request_ctx=result) as response:
            response.raise_for_status()
            async for line in response.content:
                if not line.startswith(b"data: "):
                    continue
                payload = line[6:].strip()
                if payload == b"[DONE]":
                    result.done = True
                    continue
                choices = json.loads(payload)["choices"]
                if choices and choices[0]["delta"].get("content"):
                    if result.tokens == 0:
                        result.first_token_s = time.perf_counter() - started
                    result.tokens += 1
                if choices and choices[0]["finish_reason"]:
                    result.finish_reason = choices[0]["finish_reason"]
    except (aiohttp.ClientError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.total_s = time.perf_counter() - started
    return result


async def load(base_url: str, simulator: psutil.Process, args: argparse.Namespace) -> int:
    """Runs the streams, measures, prints the report; returns the exit status."""
    body = json.dumps({"model": "bench", "messages": PROMPT, "stream": True}).encode()
    me = psutil.Process()
    sampler = Sampler(simulator)
    stop = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=60)
    tracing = aiohttp.TraceConfig()
    tracing.on_request_headers_sent.append(on_headers_sent)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trace_configs=[tracing]) as session:
        sampling = asyncio.create_task(sampler.run(stop))
        sim_before, me_before, wall_before = simulator.cpu_times(), me.cpu_times(), time.perf_counter()
        url = base_url + "/chat/completions"
        results = await asyncio.gather(*(one_stream(session, url, body) for _ in range(args.streams)))
        sim_after, me_after, wall = simulator.cpu_times(), me.cpu_times(), time.perf_counter() - wall_before
        stop.set()
        await sampling
    sim_cpu = (sim_after.user + sim_after.system) - (sim_before.user + sim_before.system)
    me_cpu = (me_after.user + me_after.system) - (me_before.user + me_before.system)
    ideal = (args.ttft_ms + args.tokens * args.token_ms) / 1000
    complete = [r for r in results if r.tokens == args.tokens and r.done and r.finish_reason == "stop" and not r.error]
    report(args, results, complete, wall, ideal, sim_cpu, me_cpu, sampler.peak())
    return 0 if len(complete) == args.streams else 1


def report(
    args: argparse.Namespace,
    results: list[StreamResult],
    complete: list[StreamResult],
    wall: float,
    ideal: float,
    sim_cpu: float,
    me_cpu: float,
    peak_rss: int,
) -> None:
    """Prints the figures, one per line."""
    totals = sorted(r.total_s for r in results)
    served = sorted(r.end_after_sent_s for r in results)
    firsts = sorted(r.first_token_s for r in results if r.tokens)
    sends = sorted(r.sent_at for r in results)
    print(f"date (UTC)          {time.strftime('%Y-%m-%d %H:%M', time.gmtime())}")
    cpu = platform.processor() or platform.machine()
    print(f"machine             {psutil.cpu_count()} cores, {cpu}, Python {platform.python_version()}")
    timing = f"ttft {args.ttft_ms:g} ms, token {args.token_ms:g} ms (ideal {ideal:.3f} s)"
    print(f"streams             {args.streams} x {args.tokens} tokens, {timing}")
    print(f"complete            {len(complete)}/{len(results)} (all tokens, finish_reason stop, [DONE])")
    for error in sorted({r.error for r in results if r.error})[:5]:
        print(f"  error             {error}")
    print(f"wall                {wall:.3f} s for the whole run")
    print(f"simulator CPU       {sim_cpu:.2f} s = {100 * sim_cpu / wall:.1f} % of one core")
    print(f"simulator peak RSS  {peak_rss / 2**20:.1f} MiB")
    print(f"load generator CPU  {me_cpu:.2f} s = {100 * me_cpu / wall:.1f} % of one core")
    if firsts:
        print(f"first token         p50 {statistics.median(firsts) * 1000:.0f} ms, max {firsts[-1] * 1000:.0f} ms")
    print(
        f"stream duration     p50 {statistics.median(totals):.3f} s, max {totals[-1]:.3f} s (from the client's start)"
    )
    ramp = f"p50 {statistics.median(sends) * 1000:.0f} ms, max {sends[-1] * 1000:.0f} ms"
    print(f"ramp-up             request on the wire after {ramp}")
    print(
        f"reply duration      p50 {statistics.median(served):.3f} s, max {served[-1]:.3f} s"
        " (from request sent to [DONE])"
    )


def main() -> int:
    """The script's entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--ttft-ms", type=float, default=200.0)
    parser.add_argument("--token-ms", type=float, default=40.0)
    parser.add_argument("--tokens", type=int, default=50)
    args = parser.parse_args()
    # Each stream holds a socket on both sides; the default soft limit may be as low as 1024.
    raise_nofile_limit(args.streams * 2 + 256)
    with SimulatorProcess(
        SimulatorConfig(ttft_ms=args.ttft_ms, token_ms=args.token_ms, tokens=args.tokens)
    ) as simulator:
        return asyncio.run(load(simulator.base_url, psutil.Process(simulator.pid), args))


if __name__ == "__main__":
    sys.exit(main())
