"""The servers' command lines: the application the caller names, the tuned limits, N processes on one port."""

from __future__ import annotations

import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from longrun.servers import SERVERS, Launch, Server, running_server, server_named

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.longrun.servers_app:app"


def argv(name: str, **launch: object) -> list[str]:
    return SERVERS[name].command(Launch(app="my.asgi:application", **launch))[0]  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["daphne", "uvicorn", "granian", "gunicorn", "gthread"])
def test_every_server_runs_the_application_the_caller_names(name):
    assert argv(name)[-1] == "my.asgi:application"


def test_runserver_runs_the_project_s_manage_py():
    assert argv("runserver", port=8123)[1:] == ["manage.py", "runserver", "--noreload", "127.0.0.1:8123"]


def test_daphne_listens_with_the_backlog_asked_for_not_twisted_s_50():
    assert "tcp:port=8000:interface=127.0.0.1:backlog=4096" in argv("daphne")


@pytest.mark.parametrize("name", ["uvicorn", "granian", "gunicorn", "gthread"])
def test_the_other_servers_listen_with_the_backlog_asked_for(name):
    command = argv(name, backlog=2048)
    assert command[command.index("--backlog") + 1] == "2048"


def test_granian_serves_as_many_requests_at_once_as_asked():
    command = argv("granian", backpressure=9000)
    assert command[command.index("--backpressure") + 1] == "9000"


@pytest.mark.parametrize("name", ["uvicorn", "granian"])
def test_uvloop_is_used_where_the_server_supports_it(name):
    command = argv(name)
    assert command[command.index("--loop") + 1] == "uvloop"


@pytest.mark.parametrize(("name", "flag"), [("uvicorn", "--workers"), ("granian", "--workers"), ("gunicorn", "-w")])
def test_workers_are_the_server_s_own_processes(name, flag):
    command = argv(name, workers=3)
    assert command[command.index(flag) + 1] == "3"


def test_several_daphnes_share_one_socket_through_prefork():
    command = argv("daphne", workers=2)
    assert command[1:3] == ["-m", "longrun.prefork"]
    assert command[command.index("--workers") + 1] == "2"
    assert command[command.index("--") + 1 :][-3:] == ["--fd", "{fd}", "my.asgi:application"]


@pytest.mark.parametrize(("name", "interface"), [("uvicorn", "on"), ("granian", "asgi")])
def test_lifespan_is_off_unless_the_application_handles_it(name, interface):
    off, on = argv(name), argv(name, lifespan=True)
    assert "asginl" in off or off[off.index("--lifespan") + 1] == "off"
    assert interface in on


def test_an_unknown_server_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="choose one of daphne, uvicorn"):
        server_named("tornado")


def test_a_server_of_the_caller_s_own_runs_its_argv_builder():
    mine = Server("mine", "asgi", "a custom one", lambda launch: ["serve", launch.app, str(launch.port)])
    assert mine.command(Launch(app="a:b", port=9))[0] == ["serve", "a:b", "9"]


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["uvicorn", "granian", "daphne"])
def test_two_processes_serve_one_port(name):
    with running_server(name, app=APP, env={}, cwd=ROOT, workers=2) as (url, process):
        tree = psutil.Process(process.pid)

        def get(_: int) -> str:
            with urllib.request.urlopen(url + "/", timeout=10) as reply:
                return reply.read().decode()

        with ThreadPoolExecutor(8) as pool:
            pids = set(pool.map(get, range(40)))
        # Two processes serve (a supervisor may add one that does not): every answer came from one of them.
        serving = {str(child.pid) for child in tree.children(recursive=True)} | {str(process.pid)}
        assert pids <= serving
        assert len([child for child in tree.children(recursive=True) if str(child.pid) in serving]) >= 2
