"""The support matrix: in each cell (an interpreter and the Django a project already runs), longrun installed from
its wheel leaves that Django alone, and its audit, system checks, simulator, pytest plugin and bridges work.

The cells are ``CELLS`` in conftest.py: Python 3.10 + Django 4.2 (with the oldest asgiref longrun accepts),
Python 3.12 + Django 5.2, Python 3.13 + the newest Django. Each test runs in every cell, on its own copy of the
sample project (``sample_project/``, whose planted problems carry ``# LRnnn`` markers).
"""

from __future__ import annotations

import json
import re
import select
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import planted_markers
from tests.install.conftest import CELLS, SAMPLE, Venv

pytestmark = pytest.mark.install

PLANTED = planted_markers(SAMPLE)
JSON_KEYS = ["rule", "severity", "path", "line", "message", "fix"]
LISTENING = re.compile(r"LLM simulator listening on (http://127\.0\.0\.1:(\d+)/v1)")
EXTRA_PACKAGES = {"aiohttp", "libcst", "blockbuster", "psutil", "websockets"}


def found(findings: list[dict[str, object]]) -> set[tuple[object, object, object]]:
    return {(f["path"], f["line"], f["rule"]) for f in findings}


def audit_json(venv: Venv, sample: Path, *options: str) -> tuple[int, list[dict[str, object]]]:
    result = venv.run("manage.py", "asgi_audit", "--format", "json", *options, cwd=sample)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_the_cell_runs_its_own_python_and_django(venv: Venv, sample: Path):
    result = venv.run("-c", "import sys, django; print(sys.version_info[:2], django.get_version())", cwd=sample)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"({venv.cell.python.replace('.', ', ')}) ")
    if venv.cell.django_series is not None:
        assert result.stdout.split()[-1].startswith(venv.cell.django_series + ".")


def test_installing_longrun_and_its_extras_changes_no_package_the_project_had(venv: Venv):
    before, after_base, after_extras = venv.facts["before"], venv.facts["after_base"], venv.facts["after_extras"]
    assert "django" in before and "longrun" not in before
    for after in (after_base, after_extras):
        assert {name: after.get(name) for name in before} == before
    assert "Uninstalling" not in venv.facts["base_log"] + venv.facts["extras_log"]


def test_the_base_install_adds_longrun_alone_and_the_extras_add_their_packages(venv: Venv):
    assert set(venv.facts["after_base"]) - set(venv.facts["before"]) == {"longrun"}  # Django, asgiref were there
    assert set(venv.facts["after_base"]) & EXTRA_PACKAGES == set()
    assert set(venv.facts["after_extras"]) >= EXTRA_PACKAGES


def test_without_its_extra_the_simulator_command_says_which_extra_to_install(venv: Venv):
    without = venv.facts["simulator_without_extra"]
    assert without["status"] == 2
    assert "longrun simulator: error: The LLM simulator (longrun.simulator) needs aiohttp" in without["stderr"]
    assert 'pip install "longrun[simulator] @ ' in without["stderr"]


def test_longrun_is_imported_from_the_virtual_environment_not_from_the_repository(venv: Venv, sample: Path):
    result = venv.run("-c", "import longrun; print(longrun.__file__)", cwd=sample)
    assert result.returncode == 0, result.stderr
    package = Path(result.stdout.strip()).parent
    assert package.is_relative_to(venv.path)
    assert "site-packages" in package.parts


def test_asgi_audit_json_reports_the_planted_problems_and_exits_1(venv: Venv, sample: Path):
    status, findings = audit_json(venv, sample)
    assert status == 1
    assert found(findings) == PLANTED
    assert all(list(f) == JSON_KEYS for f in findings)
    assert {f["severity"] for f in findings} == {"error", "warning", "info"}


def test_the_longrun_script_audits_with_no_django_settings(venv: Venv, sample: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert "DJANGO_SETTINGS_MODULE" not in venv.env
    audited = venv.command(str(venv.bin / "longrun"), "audit", str(sample), cwd=elsewhere)
    assert audited.returncode == 1, audited.stderr
    for path, line, rule in PLANTED:
        assert re.search(rf"^{re.escape(path)}:{line}: {rule} ", audited.stdout, re.MULTILINE), audited.stdout
    assert f"{len(PLANTED)} findings (2 errors, 3 warnings, 2 infos)." in audited.stdout


def test_asgi_audit_fix_turns_time_sleep_into_await_asyncio_sleep_and_the_re_audit_drops_lr102(
    venv: Venv, sample: Path
):
    fixed = venv.run("manage.py", "asgi_audit", "--select", "LR102", "--fix", cwd=sample)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "+    await asyncio.sleep(0.5)  # LR102: let the upstream cache warm up" in fixed.stdout
    source = (sample / "shop" / "views.py").read_text()
    assert "    await asyncio.sleep(0.5)  # LR102: let the upstream cache warm up\n" in source
    assert "import asyncio\n" in source
    assert "time.sleep" not in source
    _, after = audit_json(venv, sample)
    # The fix added `import asyncio` above the view: the markers moved with their lines.
    assert found(after) == {marker for marker in planted_markers(sample) if marker[2] != "LR102"}


def test_check_tag_async_reports_the_settings_findings_with_their_ids(venv: Venv, sample: Path):
    checked = venv.run("manage.py", "check", "--tag", "async", cwd=sample)
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output  # warnings do not fail `check`
    assert "(longrun.LR403)" in output and "CONN_MAX_AGE=60" in output
    assert "(longrun.LR401)" in output and "shop.middleware.timing_middleware" in output
    assert "(longrun.LR406)" in output and "django.middleware.common.CommonMiddleware" in output
    assert "longrun.I001" not in output


def test_before_the_asgi_switch_check_announces_what_waits_and_assume_asgi_shows_it(venv: Venv, sample: Path):
    settings = sample / "shop" / "settings.py"
    settings.write_text(settings.read_text().replace('ASGI_APPLICATION = "shop.asgi.application"\n', ""))
    waiting = venv.run("manage.py", "check", "--tag", "async", cwd=sample)
    assert waiting.returncode == 0, waiting.stderr
    assert "(longrun.I001) ASGI_APPLICATION is not set, so 2 finding(s)" in waiting.stderr + waiting.stdout
    assert "(longrun.LR403)" not in waiting.stderr + waiting.stdout
    settings.write_text(settings.read_text() + "LONGRUN_ASSUME_ASGI = True\n")
    judged = venv.run("manage.py", "check", "--tag", "async", cwd=sample)
    assert "(longrun.LR403)" in judged.stderr + judged.stdout
    assert "longrun.I001" not in judged.stderr + judged.stdout


@pytest.fixture
def simulator_command(venv: Venv, sample: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``manage.py llm_simulator --port 0`` running in the sample project, and its first stdout line."""
    process = subprocess.Popen(
        [str(venv.python), "manage.py", "llm_simulator", "--port", "0", "--ttft-ms", "10", "--token-ms", "1"],
        cwd=sample,
        env=venv.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], 60)
        yield process, process.stdout.readline() if ready else ""
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        process.stdout.close()
        process.stderr.close()


SDK_CLIENT = """
import json, sys
from openai import OpenAI
client = OpenAI(base_url=sys.argv[1], api_key="unused", max_retries=0)
prompt = [{"role": "user", "content": "Explain ASGI"}]
whole = client.chat.completions.create(model="any", messages=prompt)
with client.chat.completions.create(model="any", messages=prompt, stream=True) as stream:
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
print(json.dumps({"whole": whole.choices[0].message.content, "pieces": pieces, "usage": whole.usage.completion_tokens}))
"""


def test_the_llm_simulator_command_answers_the_openai_sdk(venv: Venv, simulator_command, tmp_path: Path):
    process, line = simulator_command
    match = LISTENING.search(line)
    assert match, f"first line {line!r}; exit status {process.poll()}"
    answered = venv.run("-c", SDK_CLIENT, match.group(1), cwd=tmp_path)
    assert answered.returncode == 0, answered.stderr
    reply = json.loads(answered.stdout)
    assert len(reply["pieces"]) == reply["usage"] == 50
    assert "".join(reply["pieces"]) == reply["whole"]


PROCESS_API = """
import json
from openai import OpenAI
from longrun.simulator import Fault, SimulatorConfig, SimulatorProcess
with SimulatorProcess(SimulatorConfig(ttft_ms=5, token_ms=1, tokens=7)) as simulator:
    client = OpenAI(base_url=simulator.base_url, api_key="unused", max_retries=0)
    with client.chat.completions.create(model="any", messages=[{"role": "user", "content": "Hi"}], stream=True) as s:
        pieces = [c.choices[0].delta.content for c in s if c.choices and c.choices[0].delta.content]
    try:
        client.chat.completions.create(model=Fault.SERVER_ERROR, messages=[{"role": "user", "content": "Hi"}])
    except Exception as exc:
        fault = type(exc).__name__
    print(json.dumps({"pieces": len(pieces), "fault": fault, "stats": simulator.stats()}))
"""


def test_a_simulator_process_started_from_python_answers_the_openai_sdk(venv: Venv, tmp_path: Path):
    answered = venv.run("-c", PROCESS_API, cwd=tmp_path)
    assert answered.returncode == 0, answered.stderr
    printed = json.loads(answered.stdout)
    # The two requests ran one after the other, but the stream's handler may still be closing when the next begins.
    assert printed["stats"].pop("peak_active") in {1, 2}
    assert printed == {
        "pieces": 7,
        "fault": "InternalServerError",
        "stats": {"active": 0, "completed": 1, "cancelled": 0, "errors": 1},
    }


def test_the_detect_blocking_flag_fails_a_test_that_sleeps_on_the_event_loop(venv: Venv, tmp_path: Path):
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_nap.py").write_text(
        "import asyncio\nimport time\n\n\nasync def nap():\n    time.sleep(0.01)\n\n\n"
        "def test_naps_on_the_loop():\n    asyncio.run(nap())\n"
    )
    plain = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=tmp_path)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    detected = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", "--longrun-detect-blocking", cwd=tmp_path)
    assert detected.returncode == 1, detected.stdout + detected.stderr
    assert "BlockingCallError" in detected.stdout
    assert "test_nap.py:6" in detected.stdout


BRIDGES = """
import asyncio, json
import django
from django.conf import settings
settings.configure(DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}})
django.setup()
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import AsyncRequestFactory
from longrun.bridges import adb_call, iterate_async, streaming_content_for

def words():
    yield from ("one ", "two ", "three")

def one_query():
    with connection.cursor() as cursor:
        cursor.execute("select 42")
        return cursor.fetchone()[0]

async def agen():
    for n in range(3):
        yield n

async def main():
    response = StreamingHttpResponse(streaming_content_for(AsyncRequestFactory().get("/"), words()))
    chunks = [chunk async for chunk in response.streaming_content]
    return {"async": response.is_async, "chunks": [c.decode() for c in chunks], "query": await adb_call(one_query)}

result = asyncio.run(main())
result["from_sync"] = list(iterate_async(agen))
print(json.dumps(result))
"""


def test_the_bridges_stream_a_sync_generator_under_asgi_and_reach_the_orm_on_the_cells_django(
    venv: Venv, tmp_path: Path
):
    result = venv.run("-c", BRIDGES, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "StreamingHttpResponse must consume" not in result.stderr
    assert json.loads(result.stdout) == {
        "async": True,
        "chunks": ["one ", "two ", "three"],
        "query": 42,
        "from_sync": [0, 1, 2],
    }


@pytest.mark.parametrize("venv", [CELLS[0]], ids=[CELLS[0].name], indirect=True)
def test_adrf_installs_on_django_4_2_without_moving_it_when_drf_stays_below_3_18(venv: Venv, tmp_path: Path):
    # What the DRF chapter of the migration guide says about versions, asked of pip in the Django 4.2 cell.
    assert venv.cell.django_series == "4.2"

    def would_install(*requirements: str) -> dict[str, str]:
        report = tmp_path / "report.json"
        asked = venv.run(
            "-m", "pip", "install", "--dry-run", "--quiet", "--report", str(report), *requirements, cwd=tmp_path
        )
        assert asked.returncode == 0, asked.stderr
        return {
            i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report.read_text())["install"]
        }

    kept = would_install("adrf", "djangorestframework<3.18")
    assert "django" not in kept
    assert kept["djangorestframework"].startswith("3.17.")
    moved = would_install("adrf")
    assert tuple(int(n) for n in moved["django"].split(".")[:2]) >= (5, 2)  # the newest DRF needs Django 5.2


IMPORT_EVERY_MODULE = """
import importlib, json, pkgutil
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions", "longrun"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
import longrun
failed = {}
for module in pkgutil.walk_packages(longrun.__path__, "longrun."):
    try:
        importlib.import_module(module.name)
    except Exception as exc:
        failed[module.name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failed))
"""


def test_every_module_of_the_toolkit_imports_on_the_cells_python_and_django(venv: Venv, tmp_path: Path):
    result = venv.run("-c", IMPORT_EVERY_MODULE, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # Channels is the project's choice, not an extra of longrun: its one Channels module says so.
    assert json.loads(result.stdout) == {
        "longrun.consumers": "ImportError: longrun.consumers is for Channels consumers: install channels."
    }


ASYNC_REQUEST_PATH = """
import asyncio, json, sys
import django
from django.conf import settings
settings.configure(
    SECRET_KEY="sample", ROOT_URLCONF=__name__, ALLOWED_HOSTS=["127.0.0.1"],
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django.contrib.sessions",
                    "django.contrib.messages", "longrun"],
    MIDDLEWARE=[f"longrun.middleware.{name}" for name in (
        "SecurityMiddleware", "SessionMiddleware", "CommonMiddleware", "CsrfViewMiddleware",
        "AuthenticationMiddleware", "MessageMiddleware", "XFrameOptionsMiddleware")],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
from django.http import JsonResponse, StreamingHttpResponse
from django.urls import path
from longrun.hops import count_hops
from longrun.testing import asgi_request

async def hello(request):
    return JsonResponse({"hello": request.GET.get("name", "")})

async def words(request):
    async def gen():
        for word in ("one ", "two ", "three"):
            yield word
    return StreamingHttpResponse(gen(), content_type="text/plain")

urlpatterns = [path("hello", hello), path("words", words)]
if sys.argv[1] == "longrun":
    from longrun.asgi import get_asgi_application
else:
    from django.core.asgi import get_asgi_application
application = get_asgi_application()

async def main():
    with count_hops() as hops:
        hello_ = await asgi_request(application, "GET", "/hello", query_string="name=ada")
        words_ = await asgi_request(application, "GET", "/words")
    return {
        "hello": [hello_.status, hello_.json(), hello_.header("X-Frame-Options")],
        "words": [words_.status, words_.body.decode()],
        "hops": len(hops.hops),
    }

print(json.dumps(asyncio.run(main())))
"""
ANSWERS = {"hello": [200, {"hello": "ada"}, "DENY"], "words": [200, "one two three"]}


def test_the_async_native_middleware_answer_async_views_under_django_s_own_handler(venv: Venv, tmp_path: Path):
    result = venv.run("-c", ASYNC_REQUEST_PATH, "django", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    answered = json.loads(result.stdout)
    assert {key: answered[key] for key in ANSWERS} == ANSWERS


@pytest.mark.parametrize("venv", CELLS, ids=[cell.name for cell in CELLS], indirect=True)
def test_longrun_s_asgi_handler_serves_async_views_with_no_thread_hop_on_the_cells_django(venv: Venv, tmp_path: Path):
    result = venv.run("-c", ASYNC_REQUEST_PATH, "longrun", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {**ANSWERS, "hops": 0}
