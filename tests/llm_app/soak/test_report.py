"""The soak's report: each figure's start and end under full load, the CSV, the chart."""

from __future__ import annotations

import csv

from llm_app.soak.figures import LoopFigures, ProcessFigures, Sample
from llm_app.soak.report import start_and_end, write_chart, write_csv


def sample(at: float, streams: int, rss: float) -> Sample:
    return Sample.of(
        elapsed_s=at,
        streams_open=streams,
        upstream_active=streams,
        process=ProcessFigures(rss_mib=rss, threads=10, fds=100 + streams, db_connections=1),
        loop=LoopFigures(lag_p50_ms=1.0, lag_p99_ms=5.0, lag_max_ms=9.0, tasks=streams * 3),
    )


SAMPLES = [
    sample(0, 0, 100.0),  # before the load: not part of the start
    sample(5, 200, 110.0),  # the ramp: not either
    *[sample(10 + 5 * i, 500, 150.0 + i) for i in range(30)],
    sample(200, 0, 180.0),  # the idle tail
]


def test_start_and_end_are_medians_of_the_first_and_last_minute_at_full_load():
    table = start_and_end(SAMPLES)
    assert table["rss_mib"] == (156.0, 173.0)
    assert table["streams_open"] == (500.0, 500.0)
    assert table["tasks"] == (1500.0, 1500.0)


def test_the_csv_has_one_row_per_sample_with_every_figure(tmp_path):
    write_csv(SAMPLES, tmp_path / "soak.csv")
    with (tmp_path / "soak.csv").open() as rows:
        read = list(csv.DictReader(rows))
    assert len(read) == len(SAMPLES)
    assert {"rss_mib", "threads", "fds", "db_connections", "lag_p99_ms", "tasks"} <= set(read[0])


def test_the_chart_is_a_png(tmp_path):
    write_chart(SAMPLES, tmp_path / "soak.png", title="test")
    assert (tmp_path / "soak.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
