"""With LLM_REQUIRE_AUTH on, the endpoints need a logged-in user and a CSRF token; off, anonymous POSTs work."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.helpers import row_counts

pytestmark = pytest.mark.django_db(transaction=True)

ENDPOINTS = ["/api/sync/complete", "/api/async/complete", "/api/sync/stream", "/api/async/stream"]


def post(client, url, **headers):
    return client.post(url, data=json.dumps({"prompt": "Hi"}), content_type="application/json", headers=headers)


@pytest.mark.parametrize("url", ["/api/sync/complete", "/api/async/complete"])
def test_an_anonymous_post_without_cookies_works_by_default(llm, url):
    response = post(Client(enforce_csrf_checks=True), url)
    assert response.status_code == 200


@pytest.mark.parametrize("url", ENDPOINTS)
def test_an_anonymous_post_is_refused_with_401_when_auth_is_required(llm, settings, url):
    settings.LLM_REQUIRE_AUTH = True
    response = post(Client(enforce_csrf_checks=True), url)
    assert response.status_code == 401
    assert "Log in" in response.json()["error"]["message"]
    assert row_counts()["calls"] == 0


@pytest.mark.parametrize("url", ENDPOINTS)
def test_a_logged_in_post_without_a_csrf_token_is_refused_with_403(llm, settings, url):
    settings.LLM_REQUIRE_AUTH = True
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_user("ada", password="x"))
    response = post(client, url)
    assert response.status_code == 403
    assert "X-CSRFToken" in response.json()["error"]["message"]
    assert row_counts()["calls"] == 0


@pytest.mark.parametrize("url", ["/api/sync/complete", "/api/async/complete"])
def test_a_logged_in_post_with_the_csrf_token_from_the_page_works(llm, settings, url):
    settings.LLM_REQUIRE_AUTH = True
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_user("ada", password="x"))
    client.get("/")
    token = client.cookies["csrftoken"].value
    response = post(client, url, X_CSRFToken=token)
    assert response.status_code == 200
    assert response.json()["status"] == "complete"
