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


def log_in(client: Client, username: str, password: str):
    client.get("/accounts/login/")
    form = {"username": username, "password": password, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    return client.post("/accounts/login/?next=/", data=form)


def test_the_chat_page_sends_an_anonymous_user_to_the_site_s_login_page(settings):
    settings.LLM_REQUIRE_AUTH = True
    page = Client().get("/").content.decode()
    assert 'href="/accounts/login/?next=/"' in page
    assert "/admin/login/" not in page


def test_a_refused_anonymous_post_names_the_login_page(llm, settings):
    settings.LLM_REQUIRE_AUTH = True
    response = post(Client(enforce_csrf_checks=True), "/api/async/complete")
    assert "/accounts/login/" in response.json()["error"]["message"]


def test_a_user_who_is_not_staff_logs_in_on_the_site_s_page_and_can_then_chat(llm, settings):
    settings.LLM_REQUIRE_AUTH = True
    User.objects.create_user("ada", password="a long passphrase")
    client = Client(enforce_csrf_checks=True)
    response = log_in(client, "ada", "a long passphrase")
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert "Signed in as <strong>ada</strong>" in client.get("/").content.decode()
    response = post(client, "/api/async/complete", X_CSRFToken=client.cookies["csrftoken"].value)
    assert response.status_code == 200


def test_a_wrong_password_shows_the_form_again_with_an_error(settings):
    settings.LLM_REQUIRE_AUTH = True
    User.objects.create_user("ada", password="a long passphrase")
    response = log_in(Client(enforce_csrf_checks=True), "ada", "not it")
    assert response.status_code == 200
    assert "did not match" in response.content.decode()


def test_after_logging_out_the_endpoints_refuse_the_session_again(llm, settings):
    settings.LLM_REQUIRE_AUTH = True
    User.objects.create_user("ada", password="a long passphrase")
    client = Client(enforce_csrf_checks=True)
    log_in(client, "ada", "a long passphrase")
    token = client.cookies["csrftoken"].value
    assert client.post("/accounts/logout/", headers={"X-CSRFToken": token}).status_code == 302
    response = post(client, "/api/async/complete", X_CSRFToken=client.cookies["csrftoken"].value)
    assert response.status_code == 401
