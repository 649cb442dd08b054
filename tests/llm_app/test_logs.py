"""A refused Host header is logged as one line, without the stack of the check that refused it."""

from __future__ import annotations

import logging

import pytest
from django.test import Client


def test_a_foreign_host_is_logged_in_one_line_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="django.security.DisallowedHost"):
        response = Client(HTTP_HOST="evil.example").get("/")
    assert response.status_code == 400
    [record] = [r for r in caplog.records if r.name == "django.security.DisallowedHost"]
    assert "evil.example" in record.getMessage()
    assert record.exc_info is None and not record.exc_text
