"""Server-rendered inline SVG charts (no JS library, no CDN) of the history buckets from ``figures.history``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from llm_app.dashboard.figures import History

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 24, 28


@dataclass(frozen=True, slots=True)
class Series:
    """One line (or one layer of stacked bars): its legend name, its values per bucket and its CSS class."""

    name: str
    values: Sequence[float | None]
    css: str


def _nice_max(value: float) -> float:
    """Called per chart: a round top for the y axis at or above ``value``."""
    if value <= 0:
        return 1.0
    step = 10.0 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if step * factor >= value:
            return step * factor
    return value


def _frame(
    chart_id: str, title: str, unit: str, top: float, labels: Sequence[str], series: Sequence[Series]
) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" data-chart="{escape(chart_id)}" data-points="{len(labels)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<text class="chart-title" x="{LEFT}" y="14">{escape(title)}</text>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_fmt(top * fraction)}{escape(unit)}</text>"
        )
    if labels:
        for index in sorted({0, len(labels) // 2, len(labels) - 1}):
            x = _x(index, len(labels))
            parts.append(
                f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="middle">{escape(labels[index])}</text>'
            )
    legend_x = WIDTH - RIGHT
    for item in reversed(series):
        parts.append(
            f'<text class="legend {escape(item.css)}" x="{legend_x}" y="14" text-anchor="end">'
            f"{escape(item.name)}</text>"
        )
        legend_x -= 9 * len(item.name) + 14
    return parts


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == 0 else f"{value:.1f}"


def _x(index: int, count: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + span * (index + 0.5) / count


def _y(value: float, top: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h * (1 - value / top)


def line_chart(
    chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series], *, unit: str = ""
) -> SafeString:
    """Called by the view: one polyline per series; a bucket without a value breaks the line."""
    top = _nice_max(max((v for s in series for v in s.values if v is not None), default=0.0))
    parts = _frame(chart_id, title, unit, top, labels, series)
    for item in series:
        run: list[str] = []
        for index, value in enumerate([*item.values, None]):
            if value is None:
                if len(run) == 1:
                    x, y = run[0].split(",")
                    parts.append(f'<circle class="{escape(item.css)}" cx="{x}" cy="{y}" r="2.5"/>')
                elif run:
                    parts.append(f'<polyline class="{escape(item.css)}" points="{" ".join(run)}"/>')
                run = []
            else:
                run.append(f"{_x(index, len(labels)):.1f},{_y(value, top):.1f}")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every interpolated text above went through escape()


def bar_chart(
    chart_id: str, title: str, labels: Sequence[str], stacks: Sequence[Series], *, unit: str = ""
) -> SafeString:
    """Called by the view: stacked bars per bucket, the first series at the bottom."""
    totals = [sum(s.values[i] or 0 for s in stacks) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0.0))
    parts = _frame(chart_id, title, unit, top, labels, stacks)
    bar_w = max(1.0, (WIDTH - LEFT - RIGHT) / max(1, len(labels)) * 0.7)
    for index in range(len(labels)):
        base = 0.0
        for item in stacks:
            value = item.values[index] or 0
            if value:
                y_top, y_base = _y(base + value, top), _y(base, top)
                parts.append(
                    f'<rect class="{escape(item.css)}" x="{_x(index, len(labels)) - bar_w / 2:.1f}" y="{y_top:.1f}" '
                    f'width="{bar_w:.1f}" height="{y_base - y_top:.1f}"><title>{escape(labels[index])} '
                    f"{escape(item.name)}: {_fmt(value)}</title></rect>"
                )
            base += value
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every interpolated text above went through escape()


def history_charts(history: History) -> dict[str, SafeString]:
    """Called by the view per range: the latency, throughput, errors and tokens charts of one history."""
    fmt = "%H:%M" if history.range == "hour" else "%d %H:00"
    labels = [b.start.strftime(fmt) for b in history.buckets]
    name = history.range
    return {
        "latency": line_chart(
            f"chart-latency-{name}",
            f"Latency per {_width(history)} (complete calls)",
            labels,
            [
                Series("p50", [b.latency_p50 for b in history.buckets], "s-p50"),
                Series("p95", [b.latency_p95 for b in history.buckets], "s-p95"),
                Series("p99", [b.latency_p99 for b in history.buckets], "s-p99"),
                Series("TTFT p50", [b.ttft_p50 for b in history.buckets], "s-ttft"),
            ],
            unit=" ms",
        ),
        "throughput": bar_chart(
            f"chart-throughput-{name}",
            f"Calls per {_width(history)}",
            labels,
            [
                Series("complete", [b.calls - b.errors - b.cancelled for b in history.buckets], "s-ok"),
                Series("cancelled", [b.cancelled for b in history.buckets], "s-cancelled"),
                Series("error", [b.errors for b in history.buckets], "s-error"),
            ],
        ),
        "tokens": bar_chart(
            f"chart-tokens-{name}",
            f"Tokens per {_width(history)}",
            labels,
            [Series("tokens", [b.tokens for b in history.buckets], "s-tokens")],
        ),
    }


def _width(history: History) -> str:
    minutes = int(history.bucket_width.total_seconds() // 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h"
