"""The rounds of a comparison are told from the order of first tokens and ends, whatever the calls' lengths."""

from __future__ import annotations

import itertools

from llm_app.bench.orchestrate import served_per_round
from llm_app.bench.scenarios import Scenario, Target
from longrun.loadgen.clients import RequestResult


def user(first: float, end: float) -> RequestResult:
    """A user whose request was sent at 0 and got its first token and its end at those seconds."""
    return RequestResult(kind="sse", ok=True, error=None, status=200, started=0.0, ttft_s=first, total_s=end, tokens=5)


def pool(users: int, workers: int, call_s: list[float], ttft_s: float = 0.1) -> list[RequestResult]:
    """A pool of ``workers``: each takes the next waiting user when its call ends; the calls last ``call_s`` in turn."""
    free_at = [0.0] * workers
    lengths = itertools.cycle(call_s)
    served = []
    for _ in range(users):
        worker = min(range(workers), key=free_at.__getitem__)
        begins = free_at[worker]
        free_at[worker] = begins + next(lengths)
        served.append(user(begins + ttft_s, free_at[worker]))
    return served


def test_users_served_together_are_one_round():
    assert served_per_round([user(0.1 + n / 1000, 0.5 + n / 1000) for n in range(32)]) == [32]


def test_a_pool_of_five_serves_thirty_two_users_in_seven_rounds():
    assert served_per_round(pool(32, 5, [0.5])) == [5, 5, 5, 5, 5, 5, 2]


def test_slower_calls_than_planned_leave_the_rounds_as_they_are():
    # What a loaded machine does: every call a third longer, and uneven. Slicing the run by the planned call length
    # finds nine slices here ([5, 5, 4, 1, 5, 5, 3, 2, 2]); the order still shows seven rounds of five.
    assert served_per_round(pool(32, 5, [0.62, 0.71, 0.66, 0.69, 0.64, 0.7])) == [5, 5, 5, 5, 5, 5, 2]


def test_a_user_counts_in_the_round_after_the_latest_one_it_waited_for():
    first_round = [user(0.1, 1.0), user(0.1, 3.0)]
    # Came after the first user of round 1 ended, and before anyone of round 2 ended: round 2.
    second_round = [user(1.1, 2.0), user(1.5, 2.5)]
    # Came after a round-2 user ended: round 3, though a round-1 user is still being served.
    third_round = [user(2.1, 2.9)]
    assert served_per_round(first_round + second_round + third_round) == [2, 2, 1]


def test_failed_requests_are_not_counted():
    failed = RequestResult(
        kind="sse", ok=False, error="connect", status=None, started=0.0, ttft_s=None, total_s=0.1, tokens=0
    )
    assert served_per_round([failed, user(0.1, 0.5)]) == [1]


def test_only_replies_that_come_token_by_token_have_rounds():
    streamed = {target.label for target in Scenario(servers=("gunicorn", "daphne")).targets() if target.streams}
    assert streamed == {"gunicorn/sync", "daphne/sync", "daphne/async", "daphne/websocket"}
    assert not Target("daphne", "complete").streams
