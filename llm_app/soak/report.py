"""What a soak leaves: the samples as CSV, a chart of each figure over time, and its start and end in a table."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from statistics import median

from llm_app.soak.figures import Sample

# The figures charted and compared, with their labels.
FIGURES = (
    ("rss_mib", "RSS (MiB)"),
    ("threads", "threads"),
    ("fds", "open file descriptors"),
    ("db_connections", "database connections"),
    ("lag_p99_ms", "event-loop lag p99 (ms)"),
    ("tasks", "asyncio tasks"),
)


def write_csv(samples: Sequence[Sample], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(Sample)])
        writer.writeheader()
        writer.writerows(sample.as_dict() for sample in samples)


def _values(samples: Sequence[Sample], name: str) -> list[float]:
    return [float(v) for s in samples if (v := getattr(s, name)) is not None]


def start_and_end(samples: Sequence[Sample], *, window_s: float = 60.0) -> dict[str, tuple[float, float]]:
    """Each figure's median over the first and over the last ``window_s`` of the full load (after the ramp)."""
    peak = max((s.streams_open for s in samples), default=0)
    loaded = [s for s in samples if peak and s.streams_open >= 0.9 * peak] or list(samples)
    first, last = loaded[0].elapsed_s, loaded[-1].elapsed_s
    head = [s for s in loaded if s.elapsed_s <= first + window_s]
    tail = [s for s in loaded if s.elapsed_s >= last - window_s]
    table = {}
    for name, _ in (*FIGURES, ("streams_open", "streams open")):
        a, b = _values(head, name), _values(tail, name)
        if a and b:
            table[name] = (round(median(a), 2), round(median(b), 2))
    return table


def write_chart(samples: Sequence[Sample], path: Path, *, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(3, 3, figsize=(15, 10), sharex=True)
    minutes = [s.elapsed_s / 60 for s in samples]
    panels = (
        *FIGURES,
        ("streams_open", "streams open (client side)"),
        ("upstream_active", "LLM requests active"),
        ("lag_max_ms", "event-loop lag max (ms)"),
    )
    for axis, (name, label) in zip(axes.flat, panels, strict=True):
        points = [(m, getattr(s, name)) for m, s in zip(minutes, samples, strict=True) if getattr(s, name) is not None]
        if points:
            axis.plot(*zip(*points, strict=True), linewidth=1.2)
        axis.set_title(label, fontsize=10)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    for axis in axes[-1]:
        axis.set_xlabel("minutes")
    figure.suptitle(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
