"""LLM_RATE_LIMIT: reading the setting, who the client is (behind a trusted proxy or not), the window, the 429."""

from __future__ import annotations

import json
import math
import time

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient, Client

from llm_app.models import LLMCall
from llm_app.services import rate_limit
from llm_app.services.limits import RateLimited
from llm_app.services.rate_limit import Rate, client_address, client_key, parse_rate


@pytest.fixture
def fresh_windows(monkeypatch):
    """The in-process windows start empty for each test."""
    monkeypatch.setattr(rate_limit, "_local", rate_limit._LocalWindows())


@pytest.mark.parametrize(
    ("text", "count", "window_s"),
    [
        ("30/min", 30, 60),
        ("500/hour", 500, 3600),
        ("5/10s", 5, 10),
        ("1000/day", 1000, 86400),
        (" 2 / minutes ", 2, 60),
    ],
)
def test_a_rate_reads_as_requests_per_period(text, count, window_s):
    rate = parse_rate(text)
    assert (rate.count, rate.window_s) == (count, window_s)


def test_an_empty_rate_means_no_limit():
    assert parse_rate("") is None


@pytest.mark.parametrize("text", ["30", "30/fortnight", "0/min", "ten/min", "5/0s"])
def test_an_unreadable_rate_stops_the_server_with_examples_of_good_ones(text):
    with pytest.raises(ImproperlyConfigured, match="such as 30/min, 500/hour"):
        parse_rate(text)


def test_a_trusted_proxies_entry_that_is_not_an_address_is_refused_at_start_up(settings):
    settings.LLM_TRUSTED_PROXIES = ["127.0.0.1", "proxy.internal"]
    with pytest.raises(ImproperlyConfigured, match="LLM_TRUSTED_PROXIES"):
        rate_limit.validate_settings()


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(settings):
    settings.LLM_TRUSTED_PROXIES = ["10.0.0.1"]
    assert client_address("203.0.113.9", "198.51.100.7") == "203.0.113.9"


def test_behind_a_trusted_proxy_the_client_is_the_forwarded_address(settings):
    settings.LLM_TRUSTED_PROXIES = ["127.0.0.1"]
    assert client_address("127.0.0.1", "198.51.100.7") == "198.51.100.7"


def test_a_forwarded_chain_is_read_from_the_right_skipping_trusted_proxies(settings):
    # The leftmost entry is whatever the client claimed; the proxies each append who connected to them.
    settings.LLM_TRUSTED_PROXIES = ["127.0.0.1", "10.0.0.0/8"]
    assert client_address("127.0.0.1", "1.2.3.4, 198.51.100.7, 10.0.0.5") == "198.51.100.7"


def test_garbage_in_the_forwarded_header_stops_the_walk_at_the_last_good_address(settings):
    settings.LLM_TRUSTED_PROXIES = ["127.0.0.1"]
    assert client_address("127.0.0.1", "not-an-address") == "127.0.0.1"


def test_a_logged_in_user_is_limited_as_the_user_wherever_they_connect_from():
    assert client_key(user_pk=7, peer="203.0.113.9", header_value=None) == "user:7"


def test_ipv6_clients_are_limited_by_their_slash_64():
    one = client_key(user_pk=None, peer="2001:db8:1:2::10", header_value=None)
    other = client_key(user_pk=None, peer="2001:db8:1:2:ffff::1", header_value=None)
    assert one == other == "ip:2001:db8:1:2::/64"


def test_the_local_window_refuses_the_request_past_the_rate_and_says_when_one_frees():
    windows = rate_limit._LocalWindows()
    rate = Rate(count=2, window_s=60, text="2/min")
    before = time.monotonic()
    assert [windows.hit("ip:a", rate) for _ in range(2)] == [0.0, 0.0]
    wait = windows.hit("ip:a", rate)
    after = time.monotonic()
    # The first hit frees its place 60 s after it was made: bracketed by the clock before it and after the refusal.
    assert 60 - (after - before) <= wait <= 60
    assert windows.hit("ip:b", rate) == 0.0


def test_check_raises_a_429_error_with_the_rate_and_the_retry(settings, fresh_windows):
    settings.LLM_RATE_LIMIT = "1/min"
    before = time.monotonic()
    rate_limit.check(client="ip:a")
    with pytest.raises(RateLimited) as refused:
        rate_limit.check(client="ip:a")
    after = time.monotonic()
    assert refused.value.http_status == 429
    # The whole seconds until the first request's place frees, 60 s after it: bracketed by the clock around both.
    assert math.ceil(60 - (after - before)) <= refused.value.retry_after <= 60
    assert "LLM_RATE_LIMIT allows 1/min" in refused.value.message


def post(client, url):
    return client.post(url, data=json.dumps({"prompt": "Hi", "max_tokens": 2}), content_type="application/json")


def answered(response) -> int:
    """The status, after reading a stream to its end as a client would (the call ends, its rows are final)."""
    if response.streaming:
        b"".join(response.streaming_content)
    return response.status_code


async def aanswered(response) -> int:
    if response.streaming:
        b"".join([chunk async for chunk in response.streaming_content])
    return response.status_code


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", ["/api/sync/complete", "/api/sync/stream"])
def test_the_sync_endpoints_answer_429_with_retry_after_past_the_rate(llm, settings, fresh_windows, url):
    settings.LLM_RATE_LIMIT = "2/min"
    client = Client()
    statuses = [answered(post(client, url)) for _ in range(2)]
    refused = post(client, url)
    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["error"]["retry_after"] == int(refused["Retry-After"])
    assert LLMCall.objects.count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("url", ["/api/async/complete", "/api/async/stream"])
async def test_the_async_endpoints_answer_429_with_retry_after_past_the_rate(
    llm, async_clients, settings, fresh_windows, url
):
    settings.LLM_RATE_LIMIT = "2/min"
    client = AsyncClient()
    statuses = [await aanswered(await post(client, url)) for _ in range(2)]
    refused = await post(client, url)
    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert await LLMCall.objects.acount() == 2


@pytest.mark.django_db(transaction=True)
def test_every_generation_endpoint_shares_one_count_per_client(llm, settings, fresh_windows):
    settings.LLM_RATE_LIMIT = "2/min"
    client = Client()
    assert post(client, "/api/sync/complete").status_code == 200
    assert answered(post(client, "/api/sync/stream")) == 200
    assert post(client, "/api/async/complete").status_code == 429


@pytest.mark.django_db(transaction=True)
def test_two_clients_behind_the_trusted_proxy_have_a_window_each(llm, settings, fresh_windows):
    settings.LLM_RATE_LIMIT = "1/min"
    settings.LLM_CLIENT_IP_HEADER = "X-Real-IP"
    first, second = Client(headers={"X-Real-IP": "198.51.100.1"}), Client(headers={"X-Real-IP": "198.51.100.2"})
    assert post(first, "/api/sync/complete").status_code == 200
    assert post(second, "/api/sync/complete").status_code == 200
    assert post(first, "/api/sync/complete").status_code == 429


@pytest.mark.django_db(transaction=True)
def test_a_bad_request_is_refused_before_it_counts(llm, settings, fresh_windows):
    settings.LLM_RATE_LIMIT = "1/min"
    client = Client()
    assert client.post("/api/sync/complete", data="{", content_type="application/json").status_code == 400
    assert post(client, "/api/sync/complete").status_code == 200
