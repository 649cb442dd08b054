"""The admin lists of conversations, messages and calls, and who may see them."""

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from llm_app.models import LLMCall

pytestmark = pytest.mark.django_db(transaction=True)

LISTS = ["/admin/llm_app/conversation/", "/admin/llm_app/message/", "/admin/llm_app/llmcall/"]


@pytest.fixture
def staff_client(llm):
    Client().post("/api/sync/complete", data=json.dumps({"prompt": "Seed a row"}), content_type="application/json")
    client = Client()
    client.force_login(User.objects.create_superuser("boss", password="x"))
    return client


@pytest.fixture
def superuser_client():
    client = Client()
    client.force_login(User.objects.create_superuser("boss", password="x"))
    return client


@pytest.mark.parametrize("url", LISTS)
def test_staff_see_each_list_with_its_filters(staff_client, url):
    response = staff_client.get(url + "?status__exact=complete" if "conversation" not in url else url)
    assert response.status_code == 200
    assert b"Seed a row" in response.content or b"simulator" in response.content


def test_the_call_list_links_to_its_conversation_and_message(staff_client):
    html = staff_client.get("/admin/llm_app/llmcall/").content.decode()
    assert "/admin/llm_app/conversation/" in html and "/admin/llm_app/message/" in html


@pytest.mark.parametrize("url", LISTS)
def test_anonymous_users_are_sent_to_the_login_page(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_a_calls_page_shows_its_answer_and_timing_and_cannot_be_edited(staff_client):
    call = LLMCall.objects.get()
    html = staff_client.get(f"/admin/llm_app/llmcall/{call.pk}/change/").content.decode()
    assert call.message.content in html and "Timing" in html
    assert 'name="tokens"' not in html, "every field is read-only"


def test_calls_are_only_recorded_by_the_app_never_added_in_the_admin(staff_client):
    assert staff_client.get("/admin/llm_app/llmcall/add/").status_code == 403


@pytest.mark.parametrize(
    "query",
    [
        "calls__path__exact=sync",
        "calls__status__exact=complete",
        "calls__model__exact=m",
        "created_at__gte=2020-01-01+00%3A00%3A00%2B00%3A00",
    ],
)
def test_the_conversation_list_filters_by_path_status_model_and_time(superuser_client, query):
    assert superuser_client.get(f"/admin/llm_app/conversation/?{query}").status_code == 200


@pytest.mark.parametrize("query", ["call__path__exact=sync", "call__model__exact=m", "status__exact=complete"])
def test_the_message_list_filters_by_the_calls_path_and_model_and_by_status(superuser_client, query):
    assert superuser_client.get(f"/admin/llm_app/message/?{query}").status_code == 200


def test_the_call_list_gives_a_streams_first_token_and_says_when_a_reply_came_whole(staff_client):
    stream = Client().post("/api/sync/stream", data=json.dumps({"prompt": "Stream"}), content_type="application/json")
    b"".join(stream.streaming_content)
    html = staff_client.get("/admin/llm_app/llmcall/").content.decode()
    first = LLMCall.objects.get(streamed=True).ttft_ms
    assert f"({first / 1000:.2f} s)" in html and "(whole reply)" in html
