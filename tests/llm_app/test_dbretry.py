"""A write that meets a lost or refused connection is tried again, with backoff, for a bounded time."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, OperationalError

from llm_app.dbretry import retrying


class Flaky:
    """A write that fails with ``error`` the first ``failures`` times, then returns "saved"."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "saved"


def test_a_write_that_fails_on_its_connection_is_retried_with_growing_pauses_until_it_lands():
    pauses: list[float] = []
    write = Flaky(4, OperationalError("server closed the connection unexpectedly"))
    assert retrying(write, sleep=pauses.append) == "saved"
    assert write.calls == 5
    assert pauses == [0.1, 0.2, 0.4, 0.8]


def test_a_write_that_is_wrong_is_not_retried():
    write = Flaky(1, IntegrityError("duplicate key"))
    with pytest.raises(IntegrityError):
        retrying(write, sleep=lambda _: None)
    assert write.calls == 1


def test_the_retries_stop_once_their_time_is_spent_and_the_last_error_is_raised():
    pauses: list[float] = []
    write = Flaky(1000, OperationalError("database is locked"))
    with pytest.raises(OperationalError, match="locked"):
        retrying(write, for_s=0.0, sleep=pauses.append)
    assert write.calls == 1 and pauses == []
