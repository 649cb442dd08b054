"""The comparison's outputs: a rich table for the terminal, a JSON file of every figure, a PNG chart."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from llm_app.bench.orchestrate import Comparison, RunResult
from llm_app.bench.scenarios import SERVERS

SERVERS_WSGI = {name for name, server in SERVERS.items() if server.interface == "wsgi"}


def _s(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _load(run: RunResult) -> str:
    """The machine's 1-minute load average when the run began (other work on shared cores)."""
    return _s(run.load_average[0], 1) if run.load_average else "-"


def table(comparison: Comparison) -> Table:
    llm = comparison.scenario["llm_seconds_per_request"]
    grid = Table(title=f"compare_servers: one LLM call of {llm:g}s per request", show_lines=False)
    columns = [
        "server/path",
        "users",
        "ok",
        "errors",
        "efficiency",
        "req/s",
        "p50 s",
        "p95 s",
        "p99 s",
        "TTFT p50",
        "TTFT p99",
        "last user s",
        "server CPU %",
        "CPU ms/req",
        "peak RSS MiB",
        "threads",
        "RSS/in-flight KiB",
        "sim CPU %",
        "client CPU %",
        "load",
    ]
    for column in columns:
        grid.add_column(column, justify="left" if column == "server/path" else "right")
    for run in comparison.runs:
        f, s = run.figures, run.server_stats
        errors = ", ".join(f"{k} {v}" for k, v in f["errors"].items()) or "0"
        grid.add_row(
            run.label,
            str(run.concurrency),
            str(f["completed"]),
            errors,
            _s(f["efficiency"]),
            _s(f["throughput_rps"], 1),
            _s(f["latency_p50_s"]),
            _s(f["latency_p95_s"]),
            _s(f["latency_p99_s"]),
            _s(f["ttft_p50_s"]),
            _s(f["ttft_p99_s"]),
            _s(f["last_user_wait_s"], 1),
            _s(s["cpu_percent"], 0),
            _s(run.cpu_ms_per_request, 2),
            _s(s["peak_rss_bytes"] / 2**20, 0),
            str(s["peak_threads"]),
            _s(run.rss_per_inflight_kib, 0),
            _s(run.simulator_stats["cpu_percent"], 0),
            _s(run.client_cpu["percent"], 0),
            _load(run),
        )
    return grid


def markdown(comparison: Comparison) -> str:
    """The figures as a Markdown table, for docs/benchmarks.md."""
    head = (
        "| server/path | users | ok | errors | efficiency | req/s | p50 s | p99 s | TTFT p50 s | TTFT p99 s "
        "| last user s "
        "| server CPU % | CPU ms/req | peak RSS MiB | peak threads | RSS/in-flight KiB | sim CPU % | client CPU % "
        "| load |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for run in comparison.runs:
        f, s = run.figures, run.server_stats
        errors = ", ".join(f"{k} {v}" for k, v in f["errors"].items()) or "0"
        cells = [
            run.label,
            str(run.concurrency),
            str(f["completed"]),
            errors,
            _s(f["efficiency"]),
            _s(f["throughput_rps"], 1),
            _s(f["latency_p50_s"]),
            _s(f["latency_p99_s"]),
            _s(f["ttft_p50_s"]),
            _s(f["ttft_p99_s"]),
            _s(f["last_user_wait_s"], 1),
            _s(s["cpu_percent"], 0),
            _s(run.cpu_ms_per_request, 2),
            _s(s["peak_rss_bytes"] / 2**20, 0),
            str(s["peak_threads"]),
            _s(run.rss_per_inflight_kib, 0),
            _s(run.simulator_stats["cpu_percent"], 0),
            _s(run.client_cpu["percent"], 0),
            _load(run),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_markdown(comparison: Comparison, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(comparison))


def load(path: Path) -> Comparison:
    """Reads a comparison back from its JSON file (to redraw or re-tabulate it)."""
    data = json.loads(path.read_text())
    runs = [RunResult(**run) for run in data["runs"]]
    return Comparison(scenario=data["scenario"], environment=data["environment"], command=data["command"], runs=runs)


def print_table(comparison: Comparison, console: Console) -> None:
    console.print(table(comparison))


def write_json(comparison: Comparison, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(comparison.as_dict(), indent=2) + "\n")


def write_chart(comparison: Comparison, path: Path) -> None:
    """Efficiency and p99 latency against concurrency, one line per server and path."""
    import matplotlib

    matplotlib.use("Agg")  # no display here: render straight to the file
    import matplotlib.pyplot as plt

    series: dict[str, list[RunResult]] = defaultdict(list)
    for run in comparison.runs:
        series[run.label].append(run)
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5))
    levels = sorted({r.concurrency for r in comparison.runs})
    if len(levels) == 1:
        # One concurrency: lines would be single dots, so compare the servers side by side as bars.
        labels = list(series)
        colors = ["#c0504d" if SERVERS_WSGI & {label.split("/")[0]} else "#4f81bd" for label in labels]
        left.barh(labels, [series[label][0].figures["efficiency"] for label in labels], color=colors)
        right.barh(labels, [series[label][0].figures["latency_p99_s"] or 0 for label in labels], color=colors)
        left.invert_yaxis()
        right.invert_yaxis()
        left.set(xlim=(0, 1.1), xlabel=f"efficiency at {levels[0]} users (red: WSGI worker pools)")
        right.set(xlabel=f"p99 seconds at {levels[0]} users")
    else:
        for label, runs in series.items():
            runs.sort(key=lambda r: r.concurrency)
            users = [r.concurrency for r in runs]
            wsgi = bool(SERVERS_WSGI & {label.split("/")[0]})
            style: dict[str, Any] = {"marker": "o", "label": label, "linestyle": "--" if wsgi else "-"}
            left.plot(users, [r.figures["efficiency"] for r in runs], **style)
            right.plot(users, [r.figures["latency_p99_s"] or 0 for r in runs], **style)
        left.set(xlabel="concurrent users", ylabel="efficiency", ylim=(0, 1.1), xscale="log")
        right.set(xlabel="concurrent users", ylabel="seconds", xscale="log")
        right.legend(fontsize=8, loc="upper left")
    llm = comparison.scenario["llm_seconds_per_request"]
    left.set(title="Efficiency (1.0 = every user served as fast as the LLM)")
    right.set(title=f"p99 latency (one LLM call = {llm:g}s, dotted)")
    (right.axvline if len(levels) == 1 else right.axhline)(llm, color="grey", linewidth=0.8, linestyle=":")
    for axis in (left, right):
        axis.grid(True, alpha=0.3)
    fig.suptitle(
        f"{comparison.environment['date_utc']} UTC, {comparison.environment['cores']} cores: {comparison.command}",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
