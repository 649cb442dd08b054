"""The chat page and its vendored static files."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_page_offers_the_three_paths_and_sets_the_csrf_cookie():
    response = Client().get("/")
    assert response.status_code == 200
    html = response.content.decode()
    for value in ("sync", "async", "websocket"):
        assert re.search(rf'value="{value}"', html), value
    assert "csrftoken" in response.cookies


def test_the_page_loads_only_local_static_files():
    html = Client().get("/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert sources, "the page has its script and style"
    for source in sources:
        assert source.startswith("/static/"), f"{source} is not vendored"
        assert finders.find(source.removeprefix("/static/")), f"{source} is missing"


def test_the_site_icon_is_where_browsers_look_for_it(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("llm_app/favicon.ico")
