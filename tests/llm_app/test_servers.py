"""The demo's servers: longrun's command lines with the project's applications and runserver twins."""

from __future__ import annotations

from llm_app.servers import ASGI_APP, SERVERS, WSGI_APP, server_command


def test_an_asgi_server_runs_the_project_s_asgi_application():
    argv, _ = server_command("uvicorn", host="127.0.0.1", port=8000)
    assert argv[-1] == ASGI_APP


def test_a_worker_pool_runs_the_wsgi_application_with_five_workers_by_default():
    argv, _ = server_command("gunicorn", host="127.0.0.1", port=8000)
    assert argv[-1] == WSGI_APP
    assert argv[argv.index("-w") + 1] == "5"


def test_an_asgi_server_runs_one_process_unless_asked():
    one, _ = server_command("uvicorn", host="127.0.0.1", port=8000)
    two, _ = server_command("uvicorn", host="127.0.0.1", port=8000, workers=2)
    assert (one[one.index("--workers") + 1], two[two.index("--workers") + 1]) == ("1", "2")


def test_the_two_runservers_differ_only_by_the_project_s_setting():
    _, wsgi = server_command("runserver", host="127.0.0.1", port=8000)
    _, asgi = server_command("runserver-asgi", host="127.0.0.1", port=8000)
    assert (wsgi, asgi) == ({"DJANGO_RUNSERVER": "wsgi"}, {"DJANGO_RUNSERVER": "asgi"})
    assert (SERVERS["runserver"].interface, SERVERS["runserver-asgi"].interface) == ("wsgi", "asgi")
