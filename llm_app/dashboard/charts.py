"""Server-rendered charts of the history buckets from ``figures.history``: inline SVG, no JS library, no CDN."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from llm_app.dashboard.figures import History

# viewBox sizes near the size each chart is drawn at (1280-1600 px screens), so 10-12 px text stays that size:
# the line chart spans the page, the bar charts share a row.
WIDE, NARROW, HEIGHT = 960, 480, 180
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 10, 24


@dataclass(frozen=True, slots=True)
class Series:
    """One line (or one layer of stacked bars): its legend name, its values per bucket and its CSS class."""

    name: str
    values: Sequence[float | None]
    css: str


def _nice_max(value: float) -> float:
    """A round top for the y axis at or above ``value``."""
    if value <= 0:
        return 1.0
    step = 10.0 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if step * factor >= value:
            return step * factor
    return value


def _legend(series: Sequence[Series]) -> str:
    items = "".join(f'<li><span class="swatch {escape(item.css)}"></span>{escape(item.name)}</li>' for item in series)
    return f'<ul class="legend" aria-label="Legend">{items}</ul>'


def _frame(
    chart_id: str,
    title: str,
    unit: str,
    top: float,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    width: int,
    css: str,
) -> list[str]:
    """The chart's figure up to its plot: title and legend in HTML (text never overlaps), axes in SVG."""
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<figure class="chart-figure {css}"><figcaption><span class="chart-title">{escape(title)}</span>'
        f"{_legend(series)}</figcaption>",
        f'<svg class="chart" id="{escape(chart_id)}" data-chart="{escape(chart_id)}" '
        f'data-points="{len(labels)}" viewBox="0 0 {width} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_fmt(top * fraction)}{escape(unit)}</text>"
        )
    if labels:
        last = len(labels) - 1
        for index in sorted({0, len(labels) // 2, last}):
            x = _x(index, len(labels), width)
            # The first and last labels are anchored inward, so that neither is cut at the plot's edge.
            anchor = "middle"
            if last and index == 0:
                anchor, x = "start", LEFT
            elif last and index == last:
                anchor, x = "end", width - RIGHT
            parts.append(
                f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 8}" text-anchor="{anchor}">{escape(labels[index])}</text>'
            )
    return parts


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == 0 else f"{value:.1f}"


def _x(index: int, count: int, width: int) -> float:
    span = width - LEFT - RIGHT
    return LEFT + span * (index + 0.5) / count


def _y(value: float, top: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h * (1 - value / top)


def line_chart(
    chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series], *, unit: str = ""
) -> SafeString:
    """One polyline per series, across the page; a bucket without a value breaks the line."""
    top = _nice_max(max((v for s in series for v in s.values if v is not None), default=0.0))
    parts = _frame(chart_id, title, unit, top, labels, series, width=WIDE, css="chart-wide")
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
                run.append(f"{_x(index, len(labels), WIDE):.1f},{_y(value, top):.1f}")
    parts.append("</svg></figure>")
    return mark_safe("".join(parts))  # every interpolated text above went through escape()


def bar_chart(
    chart_id: str, title: str, labels: Sequence[str], stacks: Sequence[Series], *, unit: str = ""
) -> SafeString:
    """Stacked bars per bucket, the first series at the bottom; half the page wide."""
    totals = [sum(s.values[i] or 0 for s in stacks) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0.0))
    parts = _frame(chart_id, title, unit, top, labels, stacks, width=NARROW, css="chart-narrow")
    bar_w = max(1.0, (NARROW - LEFT - RIGHT) / max(1, len(labels)) * 0.7)
    for index in range(len(labels)):
        base = 0.0
        for item in stacks:
            value = item.values[index] or 0
            if value:
                y_top, y_base = _y(base + value, top), _y(base, top)
                x = _x(index, len(labels), NARROW) - bar_w / 2
                parts.append(
                    f'<rect class="{escape(item.css)}" x="{x:.1f}" y="{y_top:.1f}" '
                    f'width="{bar_w:.1f}" height="{y_base - y_top:.1f}"><title>{escape(labels[index])} '
                    f"{escape(item.name)}: {_fmt(value)}</title></rect>"
                )
            base += value
    parts.append("</svg></figure>")
    return mark_safe("".join(parts))  # every interpolated text above went through escape()


def history_charts(history: History) -> dict[str, SafeString]:
    """The latency, calls (by outcome) and tokens charts of one history range."""
    fmt = "%H:%M" if history.range == "hour" else "%d %H:00"
    labels = [b.start.strftime(fmt) for b in history.buckets]
    name = history.range
    return {
        "latency": line_chart(
            f"chart-latency-{name}",
            f"Latency per {_width(history)} (calls that completed)",
            labels,
            [
                Series("p50", [b.latency_p50 for b in history.buckets], "s-p50"),
                Series("p95", [b.latency_p95 for b in history.buckets], "s-p95"),
                Series("p99", [b.latency_p99 for b in history.buckets], "s-p99"),
                Series("first token p50 (streams)", [b.ttft_p50 for b in history.buckets], "s-ttft"),
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
