"""The admin dashboard in Debian's chromium (Playwright, launched by path) against a real daphne server.

A staff user logs in and watches the live figures follow a generation in another tab, the history charts after a
reload, and the race in each of its states (before, starting, mid-race, after, reopened later), where the
difference between the lanes must still be drawn once the race is over. The layout is checked at 1280 and 1600 px
(the admin's breadcrumb bar, tiles on their rows, legends with swatches, the LLM call list unclipped, no missing
file). Waits on data attributes and element geometry, never on sleeps (one pause only lets time pass, to show
that the race's clock has stopped). Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace

import psutil
import pytest

from llm_app import servers as demo_servers
from llm_app.bench.orchestrate import served_per_round
from longrun.servers import stop_process
from tests.e2e.conftest import ROOT, SCREENSHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

STAFF, PASSWORD = "dashboard-staff", "dashboard-password"
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def staff_user(e2e_env) -> str:
    """A staff account in the servers' database, made the way an operator makes one."""
    env = {**e2e_env, "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput", "--username", STAFF, "--email", "s@example.com"],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
    )
    return STAFF


@pytest.fixture(scope="module")
def daphne(server) -> Iterator[str]:
    with server("daphne") as base:
        yield base


@pytest.fixture(scope="module")
def race_daphne(e2e_env, staff_user) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A daphne of the race tests' own, with its process: the last of them stops it, and its race servers with it."""
    with demo_servers.running_server("daphne", env=e2e_env) as started:
        yield started


@pytest.fixture
def context(browser, daphne, staff_user):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    yield context
    context.close()


def log_in_to_dashboard(context, base: str):
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(base + "/admin/login/?next=/admin/dashboard/")
    page.fill("#id_username", STAFF)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    return page


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_the_in_flight_figure_rises_and_falls_with_a_generation_in_another_tab(context, daphne):
    from playwright.sync_api import expect

    dashboard = log_in_to_dashboard(context, daphne)
    expect(dashboard.locator("#in-flight")).to_have_attribute("data-value", "0", timeout=WAIT_MS)
    chat = context.new_page()
    chat.goto(daphne + "/")
    chat.select_option("#path", "async")
    chat.fill("#prompt", "Keep the dashboard busy")
    chat.click("#send")
    expect(dashboard.locator("#in-flight")).to_have_attribute("data-value", "1", timeout=WAIT_MS)
    expect(dashboard.locator("#in-flight-async")).to_have_attribute("data-value", "1")
    screenshot(dashboard, "dashboard-in-flight.png")
    expect(chat.locator(".message.assistant").last).to_have_attribute("data-state", "complete", timeout=WAIT_MS)
    expect(dashboard.locator("#in-flight")).to_have_attribute("data-value", "0", timeout=WAIT_MS)
    assert dashboard.locator("#latency-p50").get_attribute("data-value")
    screenshot(dashboard, "dashboard-after.png")


def test_the_history_charts_show_the_stored_calls_after_a_reload(context, daphne):
    from playwright.sync_api import expect

    dashboard = log_in_to_dashboard(context, daphne)
    chat = context.new_page()
    chat.goto(daphne + "/")
    chat.select_option("#path", "websocket")
    chat.fill("#max-tokens", "3")
    chat.fill("#prompt", "Leave a row behind")
    chat.click("#send")
    expect(chat.locator(".message.assistant").last).to_have_attribute("data-state", "complete", timeout=WAIT_MS)
    dashboard.reload()
    expect(dashboard.locator("#groups-hour tr[data-path=websocket]")).to_have_count(1)
    expect(dashboard.locator("#chart-throughput-hour rect")).not_to_have_count(0)
    screenshot(dashboard, "dashboard-history.png")


def test_an_anonymous_visitor_is_sent_to_the_login_page(browser, daphne):
    context = browser.new_context()
    page = context.new_page()
    page.goto(daphne + "/admin/dashboard/")
    assert "/admin/login/" in page.url
    context.close()


RACE_USERS = 32  # the README's scenario: 32 users, seven rounds on the pool


def timeline(page, lane: str) -> list[dict[str, float | str]]:
    """Each row of a lane as drawn: its state, and its segments' edges in pixels from the timeline's left."""
    return page.evaluate(
        """(lane) => {
          const box = document.querySelector('#race-' + lane + ' .timeline').getBoundingClientRect();
          return [...document.querySelectorAll('#race-' + lane + ' .race-row')].map((row) => {
            const [wait, stream] = [...row.children].map((s) => s.getBoundingClientRect());
            return {state: row.dataset.state, wait_from: wait.left - box.left, wait_to: wait.right - box.left,
                    stream_from: stream.left - box.left, stream_to: stream.right - box.left, width: box.width};
          });
        }""",
        lane,
    )


def queued(rows) -> int:
    """Rows whose first token came after another row of the lane had ended: users who waited for someone to finish."""
    first_end = min(row["stream_to"] for row in rows)
    return sum(1 for row in rows if row["stream_from"] >= first_end)


def rounds(rows) -> list[int]:
    """The lane's rounds as drawn, told by who ended before whose first token (``served_per_round``'s rule)."""
    drawn = [SimpleNamespace(ok=True, started=0.0, ttft_s=row["stream_from"], total_s=row["stream_to"]) for row in rows]
    return served_per_round(drawn)


def test_the_race_draws_the_pools_staircase_beside_the_async_lanes_single_block(context, race_daphne):
    from playwright.sync_api import expect

    base, _ = race_daphne
    dashboard = log_in_to_dashboard(context, base)
    race = dashboard.locator("#race")
    expect(race).to_have_attribute("data-state", "idle")
    screenshot(dashboard, "race-1-before-1280.png")

    dashboard.fill("#race-users", str(RACE_USERS))
    dashboard.click("#race-start")
    # Starting: the page says which server starts and why, rather than sitting at "starting".
    expect(race).to_have_attribute("data-state", "starting", timeout=WAIT_MS)
    expect(dashboard.locator("#race-phase")).to_be_visible()
    expect(dashboard.locator("#race-phase")).to_contain_text("(")
    screenshot(dashboard, "race-2-starting-1280.png")

    # Mid-race: every async user served while the pool still works through its queue, five at a time.
    expect(race).to_have_attribute("data-state", "running", timeout=120_000)
    expect(dashboard.locator("#race-async")).to_have_attribute("data-done", str(RACE_USERS), timeout=WAIT_MS)
    assert int(dashboard.locator("#race-sync").get_attribute("data-done") or 0) < RACE_USERS
    assert int(dashboard.locator("#race-sync").get_attribute("data-streaming") or 0) <= 5
    screenshot(dashboard, "race-3-mid-1280.png")
    dashboard.set_viewport_size({"width": 1600, "height": 1000})
    screenshot(dashboard, "race-3-mid-1600.png")
    dashboard.set_viewport_size({"width": 1280, "height": 1000})

    # After: the difference is still drawn. The pool's rows start in rounds (a staircase) and end later; the
    # async rows all start at once.
    expect(race).to_have_attribute("data-state", "done", timeout=120_000)
    expect(dashboard.locator("#race-sync .race-row[data-state=done]")).to_have_count(RACE_USERS)
    expect(dashboard.locator("#race-async .race-row[data-state=done]")).to_have_count(RACE_USERS)
    sync, async_ = timeline(dashboard, "sync"), timeline(dashboard, "async")
    assert queued(sync) == RACE_USERS - 5, "every user after the first five waited in the pool's queue"
    assert queued(async_) == 0, "no async user waited in a queue"
    assert len(rounds(sync)) == math.ceil(RACE_USERS / 5) and max(rounds(sync)) == 5, "the pool's staircase"
    assert rounds(async_) == [RACE_USERS], "the async lane's single block"
    elapsed = race.get_attribute("data-elapsed")
    sync_finished = dashboard.locator("#race-sync").get_attribute("data-finished")
    assert elapsed and sync_finished and abs(float(elapsed) - float(sync_finished)) <= 0.01
    screenshot(dashboard, "race-4-after-1280.png")

    # Reopened later, at 1600 px: the same race, its clock stopped where it ended.
    dashboard.wait_for_timeout(1500)  # time passes on the server; the race's clock must not move with it
    later = context.new_page()
    later.set_viewport_size({"width": 1600, "height": 1000})
    later.goto(base + "/admin/dashboard/")
    expect(later.locator("#race")).to_have_attribute("data-state", "done", timeout=WAIT_MS)
    assert later.locator("#race").get_attribute("data-elapsed") == elapsed
    expect(later.locator("#race-sync .race-row[data-state=done]")).to_have_count(RACE_USERS)
    screenshot(later, "race-5-reopened-1600.png")


def tops(page, selector: str) -> set[int]:
    """The distinct top edges of the elements ``selector`` matches: one value means one row."""
    return set(
        page.eval_on_selector_all(selector, "(els) => els.map((e) => Math.round(e.getBoundingClientRect().top))")
    )


def overflows(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth")


@pytest.mark.parametrize("width", [1280, 1600])
def test_the_dashboard_keeps_the_admins_look_and_its_rows_at_1280_and_1600_px(context, daphne, width):
    from playwright.sync_api import expect

    dashboard = log_in_to_dashboard(context, daphne)
    dashboard.set_viewport_size({"width": width, "height": 1000})
    expect(dashboard.locator("#in-flight")).to_have_attribute("data-value", "0", timeout=WAIT_MS)
    bar = dashboard.locator("ol.breadcrumbs")
    expect(bar).to_contain_text("LLM dashboard")
    assert bar.evaluate("(e) => getComputedStyle(e).backgroundColor") not in {"rgba(0, 0, 0, 0)", "transparent"}
    assert len(tops(dashboard, ".tiles-in-flight .tile")) == 1, "every in-flight tile on one row"
    assert len(tops(dashboard, ".tiles-rates .tile")) == 1, "every rate tile on one row"
    assert len(tops(dashboard, ".lane-title")) == 1 and len(tops(dashboard, "#race .timeline")) == 1
    for chart in dashboard.locator("figure.chart-figure").all():
        names = chart.locator(".legend li").count()
        assert names and chart.locator(".legend li .swatch").count() == names, "a swatch beside each legend entry"
    assert not overflows(dashboard)
    screenshot(dashboard, f"dashboard-{width}.png")


@pytest.mark.parametrize("width", [1280, 1600])
def test_the_llm_call_list_fits_the_page_at_1280_and_1600_px(context, daphne, width):
    for path in ["/api/sync/complete", "/api/async/stream"]:  # a whole reply and a stream: both kinds of row
        reply = context.request.post(daphne + path, data={"prompt": "A row for the list", "max_tokens": 3})
        assert reply.ok
    page = log_in_to_dashboard(context, daphne)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(daphne + "/admin/llm_app/llmcall/")
    table = page.locator("#result_list")
    assert table.locator("tbody tr").count() >= 1
    # The admin wraps the table in a box that scrolls sideways: nothing may be hidden in that scroll.
    screenshot(page, f"llm-calls-{width}.png")
    clipped = table.evaluate("(t) => t.parentElement.scrollWidth - t.parentElement.clientWidth")
    assert clipped <= 0 and not overflows(page)


def test_every_page_finds_its_icon_and_files(context, daphne):
    page = log_in_to_dashboard(context, daphne)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    for path in ["/", "/admin/", "/admin/llm_app/llmcall/", "/admin/dashboard/"]:
        page.goto(daphne + path)
    icon = page.goto(daphne + "/favicon.ico")
    assert icon is not None and icon.status == 200 and icon.headers["content-type"].startswith("image/")
    assert failed == []


def command_line(process) -> str:
    """A process's command line, or "" when it cannot be read: a scan races the processes it reads, which may
    exit, turn zombie or hide their command line (psutil raises, or gives None) while it runs."""
    try:
        return " ".join(process.cmdline() or ())
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return ""


def race_servers(pid: int) -> dict:
    """The race's gunicorn and daphne processes under the dashboard's server ``pid``, with their command lines."""
    try:
        below = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    lines = {process: command_line(process) for process in below}
    return {process: line for process, line in lines.items() if "gunicorn" in line or "daphne" in line}


def running(process) -> bool:
    """Whether ``process`` still runs: a zombie has stopped, and only waits for its parent to read its status."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def polled(read, until, timeout_s: float = 30.0):
    """``read()`` again until ``until`` holds for its value or ``timeout_s`` passed; the last value."""
    deadline = time.monotonic() + timeout_s  # a bound against a hang, not a timing claim
    value = read()
    while not until(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = read()
    return value


def test_the_race_servers_kept_warm_stop_with_the_dashboards_server(context, race_daphne):
    from playwright.sync_api import expect

    base, process = race_daphne
    page = log_in_to_dashboard(context, base)
    page.fill("#race-users", "1")  # the servers are still warm when the race test ran before this one
    page.click("#race-start")
    expect(page.locator("#race")).to_have_attribute("data-state", "done", timeout=120_000)
    kept = polled(lambda: race_servers(process.pid), lambda found: any("gunicorn" in line for line in found.values()))
    assert any("gunicorn" in line for line in kept.values()), "the race's servers stay up between races"
    stop_process(process)  # as an operator stops the dashboard's server: SIGTERM
    alive = polled(lambda: [p for p in kept if running(p)], lambda still: not still)
    assert alive == [], f"left running: {[kept[p] for p in alive]}"
