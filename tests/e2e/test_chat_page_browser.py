"""The chat page in Debian's chromium (Playwright, launched by path) against a real daphne server.

Waits on the page's data-state hooks, never on sleeps. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import SCREENSHOTS

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


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
