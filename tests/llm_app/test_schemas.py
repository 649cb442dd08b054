"""The request shape every path shares: what is accepted and what is refused, with which status."""

import pytest

from llm_app.services.schemas import BadRequest, ChatRequest, parse_chat_body, validate_chat_request


def test_a_prompt_alone_is_a_valid_request():
    assert validate_chat_request({"prompt": "Hello"}) == ChatRequest(prompt="Hello")


def test_conversation_and_max_tokens_are_carried_through():
    assert validate_chat_request({"prompt": "Hi", "conversation": 3, "max_tokens": 5}) == ChatRequest(
        prompt="Hi", conversation=3, max_tokens=5
    )


@pytest.mark.parametrize(
    ("data", "status", "fragment"),
    [
        ([], 400, "JSON object"),
        ({}, 400, "`prompt` is required"),
        ({"prompt": ""}, 400, "`prompt` is required"),
        ({"prompt": "   "}, 400, "`prompt` is required"),
        ({"prompt": 42}, 400, "`prompt` is required"),
        ({"prompt": "x", "conversation": "1"}, 400, "`conversation`"),
        ({"prompt": "x", "conversation": True}, 400, "`conversation`"),
        ({"prompt": "x", "conversation": 0}, 400, "`conversation`"),
        ({"prompt": "x", "max_tokens": 0}, 400, "`max_tokens`"),
        ({"prompt": "x", "max_tokens": True}, 400, "`max_tokens`"),
        ({"prompt": "x", "max_tokens": 2.5}, 400, "`max_tokens`"),
        ({"prompt": "x", "max_tokens": "5"}, 400, "`max_tokens`"),
        ({"prompt": "x", "max_tokens": 10**9}, 400, "`max_tokens`"),
    ],
)
def test_invalid_fields_are_refused_with_a_message_naming_the_field(data, status, fragment):
    with pytest.raises(BadRequest) as caught:
        validate_chat_request(data)
    assert caught.value.status == status
    assert fragment in caught.value.message


def test_a_prompt_over_the_limit_is_refused_as_too_large(settings):
    settings.LLM_MAX_PROMPT_CHARS = 10
    with pytest.raises(BadRequest) as caught:
        validate_chat_request({"prompt": "x" * 11})
    assert caught.value.status == 413
    assert "LLM_MAX_PROMPT_CHARS" in caught.value.message


def test_a_prompt_at_the_limit_is_accepted(settings):
    settings.LLM_MAX_PROMPT_CHARS = 10
    assert validate_chat_request({"prompt": "x" * 10}).prompt == "x" * 10


def test_a_body_that_is_not_json_is_refused():
    with pytest.raises(BadRequest) as caught:
        parse_chat_body(content_type="application/json", body=b"{nope")
    assert caught.value.status == 400
    assert "not valid JSON" in caught.value.message


def test_a_form_post_is_refused_as_unsupported_media():
    with pytest.raises(BadRequest) as caught:
        parse_chat_body(content_type="application/x-www-form-urlencoded", body=b"prompt=hi")
    assert caught.value.status == 415
    assert "application/json" in caught.value.message
