"""Behaviour of longrun.detector.report: which frame is the user's, what it says to do, how it reads."""

from __future__ import annotations

import json
import os
import sys
import sysconfig

import django

import longrun.detector.report
from longrun.detector.report import BlockingReport, Frame, advice_for, build_report, format_stack, is_user_file


def report_from_inside_the_stdlib(function: str) -> BlockingReport:
    """A report built in json's decoder, called from here: a library between this file and the "blocking" call."""
    reports: list[BlockingReport] = []

    def hook(value: dict[str, object]) -> dict[str, object]:
        reports.append(build_report(function, sys._getframe(1)))  # built while the frames run, as the detector does
        return value

    json.loads("{}", object_hook=hook)  # the user's line
    return reports[0]


def entry(module: str) -> Frame:
    return Frame(filename="lib.py", line=1, function="f", module=module, source="", user=False, location="lib.py:1")


def test_the_culprit_is_the_last_frame_of_user_code_not_the_library_that_blocked():
    report = report_from_inside_the_stdlib("socket.socket.recv")
    assert report.culprit is not None
    assert report.culprit.function == "report_from_inside_the_stdlib"
    assert report.culprit.source == 'json.loads("{}", object_hook=hook)  # the user\'s line'


def test_the_stack_runs_from_the_outermost_frame_through_the_culprit_into_the_library():
    report = report_from_inside_the_stdlib("socket.socket.recv")
    assert report.culprit is not None
    after = report.stack[report.stack.index(report.culprit) + 1 :]
    assert [f.module for f in after] == ["json", "json.decoder", "json.decoder"]


def test_a_stack_without_user_code_has_no_culprit_and_says_so():
    pytest_frame = sys._getframe().f_back
    assert pytest_frame is not None
    report = build_report("time.sleep", pytest_frame)
    assert report.culprit is None
    assert "no frame of your own code" in report.summary()


def test_the_summary_names_the_function_the_users_line_and_the_fix():
    summary = report_from_inside_the_stdlib("time.sleep").summary()
    assert summary.splitlines()[0].startswith(
        "Blocking call to time.sleep inside the event loop, from tests/longrun/detector/test_report.py:"
    )
    assert "await asyncio.sleep" in summary


def test_the_log_format_marks_the_users_frames():
    formatted = report_from_inside_the_stdlib("time.sleep").format()
    assert any(line.startswith(" > tests/longrun/detector/test_report.py:") for line in formatted.splitlines())


def test_the_log_format_leaves_out_the_frames_above_the_event_loop():
    loop_frame = Frame("/py/asyncio/events.py", 84, "Handle._run", "asyncio.events", "", False, "events.py:84")
    outer = Frame("/py/runners.py", 1, "run", "asyncio.runners", "", False, "runners.py:1")
    user = Frame("/app/views.py", 3, "view", "app.views", "time.sleep(1)", True, "app/views.py:3")
    lines = format_stack([outer, loop_frame, user])
    assert lines[1:] == [
        "   ... 2 outer frames (the event loop and what started it)",
        " > app/views.py:3 in view",
        "       time.sleep(1)",
    ]


def test_time_sleep_is_told_to_use_asyncio_sleep():
    assert "await asyncio.sleep" in advice_for("time.sleep", None)


def test_a_socket_reached_through_the_orm_is_told_to_use_the_async_orm():
    assert "a-prefixed" in advice_for("socket.socket.recv", entry("django.db.backends.postgresql.base"))


def test_sqlite_is_told_to_use_the_async_orm():
    assert "a-prefixed" in advice_for("sqlite3.Cursor.execute", None)


def test_a_socket_reached_through_a_sync_http_client_is_told_to_use_an_async_client():
    assert "AsyncOpenAI" in advice_for("socket.socket.connect", entry("requests.api"))


def test_file_io_inside_an_sdk_constructor_is_told_it_is_file_io():
    assert "File I/O" in advice_for("io.TextIOWrapper.read", entry("openai._client"))


def test_a_subprocess_is_told_to_use_asyncio_subprocesses():
    assert "create_subprocess_exec" in advice_for("os.read", entry("subprocess"))


def test_a_threading_lock_is_told_to_use_asyncio_lock():
    assert "asyncio.Lock" in advice_for("threading.Lock.acquire", None)


def test_a_project_file_is_user_code():
    assert is_user_file(__file__)


def test_the_standard_library_is_not_user_code():
    assert not is_user_file(os.path.join(sysconfig.get_paths()["stdlib"], "json", "decoder.py"))


def test_an_installed_package_is_not_user_code():
    assert not is_user_file(django.__file__)


def test_the_toolkit_itself_is_not_user_code():
    assert not is_user_file(longrun.detector.report.__file__)


def test_frozen_and_generated_code_is_not_user_code():
    assert not is_user_file("<frozen importlib._bootstrap>")
