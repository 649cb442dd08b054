"""The admin dashboard in Debian's chromium (Playwright, launched by path) against a real daphne server.

A staff user logs in, opens the dashboard, starts a generation on the chat page in a second tab, and watches the
in-flight figure rise and fall through the live socket. Waits on data attributes, never on sleeps. Screenshots go
to artifacts/screenshots/.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

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


def test_the_race_shows_the_worker_pool_serving_five_while_daphne_serves_everyone(context, daphne):
    from playwright.sync_api import expect

    users = 8
    dashboard = log_in_to_dashboard(context, daphne)
    dashboard.fill("#race-users", str(users))
    dashboard.click("#race-start")
    expect(dashboard.locator("#race")).to_have_attribute("data-state", "running", timeout=120_000)
    # Every async user streams at once while the five sync workers hold five of theirs: the picture of the race.
    dashboard.wait_for_function(
        f"document.querySelector('#race-async').dataset.streaming === '{users}'", timeout=WAIT_MS
    )
    assert int(dashboard.locator("#race-sync").get_attribute("data-streaming") or 0) <= 5
    screenshot(dashboard, "dashboard-race-running.png")
    expect(dashboard.locator("#race")).to_have_attribute("data-state", "done", timeout=120_000)
    expect(dashboard.locator("#race-sync")).to_have_attribute("data-done", str(users))
    expect(dashboard.locator("#race-async")).to_have_attribute("data-done", str(users))
    assert dashboard.locator("#race-sync .race-bar[data-state=done]").count() == users
    screenshot(dashboard, "dashboard-race-done.png")
