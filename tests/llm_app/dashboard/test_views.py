"""The dashboard page inside the admin (``dashboard.views``): staff see it, linked from the admin; others do not."""

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
