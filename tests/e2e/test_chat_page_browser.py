"""The chat page in Debian's chromium (Playwright, launched by path) against a real daphne server.

Waits on the page's data-state hooks, never on sleeps. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = os.environ.get("LONGRUN_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
# Chromium's own background connections are refused on a closed network; these flags keep it quiet.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        message = "Browser tests need Debian's chromium: apt-get install chromium (./run test does it as root)."
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def daphne(server) -> Iterator[str]:
    with server("daphne") as base:
        yield base


@pytest.fixture
def page(browser, daphne):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.goto(daphne + "/")
    yield page
    context.close()


def send(page, path: str, prompt: str, max_tokens: int | None = None) -> None:
    page.select_option("#path", path)
    if max_tokens is not None:
        page.fill("#max-tokens", str(max_tokens))
    page.fill("#prompt", prompt)
    page.click("#send")


@pytest.mark.parametrize("path", ["sync", "async", "websocket"])
def test_each_path_streams_an_answer_into_the_page(page, path):
    from playwright.sync_api import expect

    send(page, path, f"Hello over {path}", max_tokens=8)
    reply = page.locator(f'.message.assistant[data-path="{path}"]').last
    expect(reply).to_have_attribute("data-state", "complete", timeout=20_000)
    assert len(reply.locator(".content").inner_text().split()) == 8
    expect(page.locator("#chat")).to_have_attribute("data-state", "idle")
    assert page.locator("#conversation-id").inner_text() == reply.get_attribute("data-conversation")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"chat-{path}-complete.png"))


@pytest.mark.parametrize("path", ["async", "websocket"])
def test_stop_keeps_the_partial_answer_marked_cancelled(page, path):
    from playwright.sync_api import expect

    send(page, path, f"Stop me over {path}")
    reply = page.locator(".message.assistant").last
    expect(reply).to_have_attribute("data-state", "streaming", timeout=20_000)
    expect(page.locator("#stop")).to_be_enabled()
    page.click("#stop")
    expect(reply).to_have_attribute("data-state", "cancelled", timeout=20_000)
    assert reply.locator(".content").inner_text().strip(), "the tokens that arrived stay on the page"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"chat-{path}-stopped.png"))


def test_a_follow_up_continues_the_same_conversation(page):
    from playwright.sync_api import expect

    send(page, "async", "First question", max_tokens=3)
    first = page.locator(".message.assistant").nth(0)
    expect(first).to_have_attribute("data-state", "complete", timeout=20_000)
    send(page, "websocket", "Second question", max_tokens=3)
    second = page.locator(".message.assistant").nth(1)
    expect(second).to_have_attribute("data-state", "complete", timeout=20_000)
    assert second.get_attribute("data-conversation") == first.get_attribute("data-conversation")
