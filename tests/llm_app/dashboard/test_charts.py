"""The history charts: inline SVG plots under an HTML title and legend, a swatch per series, text escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from llm_app.dashboard.charts import Series, bar_chart, history_charts, line_chart
from llm_app.dashboard.figures import Bucket, History

START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def bucket(index: int, *, calls: int = 0, latency: float | None = None) -> Bucket:
    return Bucket(
        start=START + index * timedelta(minutes=5),
        calls=calls,
        errors=0,
        cancelled=0,
        tokens=10 * calls,
        latency_p50=latency,
        latency_p95=latency,
        latency_p99=latency,
        ttft_p50=latency,
    )


def an_hour(*buckets: Bucket) -> History:
    filled = {b.start: b for b in buckets}
    every = [filled.get(START + i * timedelta(minutes=5), bucket(i)) for i in range(12)]
    return History(range="hour", since=START, bucket_width=timedelta(minutes=5), buckets=every, groups=[])


def test_each_range_gets_a_latency_a_calls_and_a_tokens_chart_with_a_point_per_bucket():
    charts = history_charts(an_hour(bucket(3, calls=2, latency=900.0)))
    assert set(charts) == {"latency", "throughput", "tokens"}
    assert all('data-points="12"' in chart for chart in charts.values())
    assert 'id="chart-latency-hour"' in charts["latency"]


def test_every_series_has_a_swatch_in_the_legend():
    chart = line_chart(
        "c", "Latency", ["a", "b"], [Series("p50", [1.0, 2.0], "s-p50"), Series("p99", [3.0, 4.0], "s-p99")]
    )
    legend = chart.split('<ul class="legend"', 1)[1].split("</ul>", 1)[0]
    assert legend.count('<span class="swatch s-p50">') == 1 and legend.count('<span class="swatch s-p99">') == 1


def test_a_bucket_without_a_value_breaks_the_line():
    chart = line_chart("c", "Latency", list("abcde"), [Series("p50", [1.0, 2.0, None, 3.0, 4.0], "s-p50")])
    assert chart.count("<polyline") == 2


def test_a_lone_value_between_gaps_is_drawn_as_a_dot():
    chart = line_chart("c", "Latency", list("abc"), [Series("p50", [None, 2.0, None], "s-p50")])
    assert chart.count("<circle") == 1 and "<polyline" not in chart


def test_stacked_bars_draw_one_rect_per_non_empty_layer_of_each_bucket():
    chart = bar_chart("c", "Calls", ["a", "b"], [Series("ok", [2, 0], "s-ok"), Series("error", [1, 0], "s-error")])
    assert chart.count('<rect class="s-ok"') == 1 and chart.count('<rect class="s-error"') == 1


def test_titles_and_names_are_escaped():
    chart = bar_chart("c", "<Calls>", ["<a>"], [Series("<ok>", [1], "s-ok")])
    assert "<Calls>" not in chart and "&lt;Calls&gt;" in chart and "&lt;ok&gt;" in chart
