"""The dashboard page inside the admin: staff see it, with links from the admin lists; others get nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

URL = "/admin/dashboard/"


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_user("staff", password="x", is_staff=True))
    return client


def test_anonymous_users_are_sent_to_the_login_page():
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_users_who_are_not_staff_are_sent_to_the_login_page():
    client = Client()
    client.force_login(User.objects.create_user("visitor", password="x"))
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_see_the_live_figures_and_both_history_ranges(staff_client):
    html = staff_client.get(URL).content.decode()
    assert 'id="in-flight"' in html and 'data-socket="/ws/admin/dashboard/"' in html
    assert 'id="history-hour"' in html and 'id="history-day"' in html
    assert 'id="chart-latency-hour"' in html


def test_the_admin_index_links_to_the_dashboard(staff_client):
    assert URL in staff_client.get("/admin/").content.decode()


@pytest.mark.parametrize("model", ["conversation", "message", "llmcall"])
def test_each_admin_list_links_to_the_dashboard(model):
    client = Client()
    client.force_login(User.objects.create_superuser("boss", password="x"))
    assert URL in client.get(f"/admin/llm_app/{model}/").content.decode()


@pytest.mark.parametrize(
    "query",
    [
        "calls__path__exact=sync",
        "calls__status__exact=complete",
        "calls__model__exact=m",
        "created_at__gte=2020-01-01+00%3A00%3A00%2B00%3A00",
    ],
)
def test_the_conversation_list_filters_by_path_status_model_and_time(query):
    client = Client()
    client.force_login(User.objects.create_superuser("boss", password="x"))
    assert client.get(f"/admin/llm_app/conversation/?{query}").status_code == 200


@pytest.mark.parametrize("query", ["call__path__exact=sync", "call__model__exact=m", "status__exact=complete"])
def test_the_message_list_filters_by_the_calls_path_and_model_and_by_status(query):
    client = Client()
    client.force_login(User.objects.create_superuser("boss", password="x"))
    assert client.get(f"/admin/llm_app/message/?{query}").status_code == 200
