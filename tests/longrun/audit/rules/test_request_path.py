"""The request-path and client rules (LR201-LR205)."""

from __future__ import annotations

from tests.longrun.audit.conftest import Audit, rules_of


def test_a_sync_view_waiting_on_a_sync_llm_client_is_reported(audit: Audit):
    findings = audit("""
        from django.http import JsonResponse
        from openai import OpenAI

        client = OpenAI(timeout=30)

        def view(request):
            return client.chat.completions.create(model="m", messages=[])
    """)
    assert rules_of(findings) == ["LR201"]
    assert findings[0].severity == "warning"


def test_a_sync_view_reaching_an_llm_through_a_helper_is_reported_at_the_view(audit: Audit):
    findings = audit(
        files={
            "app/llm.py": "import requests\n\n"
            "def ask(prompt):\n    return requests.post('http://localhost:11434/api/generate', timeout=60,\n"
            "        json={'model': 'm', 'prompt': prompt})\n",
            "app/views.py": "from django.http import JsonResponse\nfrom app.llm import ask\n\n"
            "def view(request):\n    return JsonResponse(ask('hi'))\n",
        }
    )
    assert [(f.rule, f.path, f.line) for f in findings] == [("LR201", "app/views.py", 5)]
    assert "`view` -> `ask()` (app/llm.py:3) -> `requests.post()` (app/llm.py:4)" in findings[0].message


def test_a_sync_view_calling_an_ordinary_web_api_is_left_alone(audit: Audit):
    findings = audit(
        files={
            "app/weather.py": "import requests\n\n"
            "def today():\n    return requests.get('https://w.invalid', timeout=5)\n",
            "app/views.py": "from django.http import JsonResponse\nfrom app.weather import today\n\n"
            "def view(request):\n    return JsonResponse(today())\n",
        }
    )
    assert findings == []


def test_a_sync_function_that_is_not_a_view_may_call_the_network(audit: Audit):
    assert audit("import requests\n\ndef job():\n    return requests.get('https://x.invalid', timeout=5)\n") == []


def test_a_sync_generator_handed_to_streaming_http_response_is_reported(audit: Audit):
    findings = audit("""
        from django.http import StreamingHttpResponse

        def rows():
            yield "a"

        def view(request):
            return StreamingHttpResponse(rows())
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR202", 7)]


def test_an_async_generator_handed_to_streaming_http_response_is_fine(audit: Audit):
    assert (
        audit("""
        from django.http import StreamingHttpResponse

        async def rows():
            yield "a"

        async def view(request):
            return StreamingHttpResponse(rows())
    """)
        == []
    )


def test_a_sync_generator_defined_inside_the_view_is_reported(audit: Audit):
    findings = audit("""
        from django.http import StreamingHttpResponse

        def view(request):
            def rows():
                yield "a"

            return StreamingHttpResponse(rows())
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR202", 7)]


def test_an_async_generator_defined_inside_the_view_is_fine(audit: Audit):
    assert (
        audit("""
        from django.http import StreamingHttpResponse

        async def view(request):
            async def rows():
                yield "a"

            return StreamingHttpResponse(rows())
    """)
        == []
    )


def test_a_nested_sync_generator_bridged_by_iterate_in_thread_is_fine(audit: Audit):
    assert (
        audit("""
        from django.http import StreamingHttpResponse
        from longrun.bridges import iterate_in_thread

        async def view(request):
            def rows():
                yield "a"

            return StreamingHttpResponse(iterate_in_thread(rows()))
    """)
        == []
    )


def test_a_nested_sync_generator_bridged_by_streaming_content_for_is_fine(audit: Audit):
    assert (
        audit("""
        from django.http import StreamingHttpResponse
        from longrun.bridges import streaming_content_for

        def view(request):
            def rows():
                yield "a"

            return StreamingHttpResponse(streaming_content_for(request, rows()))
    """)
        == []
    )


def test_a_list_body_handed_to_streaming_http_response_is_fine(audit: Audit):
    assert (
        audit("""
        from django.http import StreamingHttpResponse

        def view(request):
            lines = ["a", "b"]
            return StreamingHttpResponse(lines)
    """)
        == []
    )


def test_a_string_body_handed_to_streaming_http_response_is_fine(audit: Audit):
    assert (
        audit("""
        from django.http import StreamingHttpResponse

        def view(request):
            return StreamingHttpResponse("a")
    """)
        == []
    )


def test_a_nested_function_hides_a_module_level_generator_of_the_same_name(audit: Audit):
    assert (
        audit("""
        from django.http import StreamingHttpResponse

        def rows():
            yield "a"

        def view(request):
            def rows():
                return ["a"]

            return StreamingHttpResponse(rows())
    """)
        == []
    )


def test_a_nested_generator_defined_twice_is_not_guessed(audit: Audit):
    assert (
        audit("""
        from django.http import StreamingHttpResponse

        def view(request):
            if request.GET:
                def rows():
                    yield "a"
            else:
                async def rows():
                    yield "a"
            return StreamingHttpResponse(rows())
    """)
        == []
    )


def test_a_sync_view_using_a_client_from_a_cached_helper_is_reported(audit: Audit):
    findings = audit("""
        import functools
        from django.http import JsonResponse
        from openai import OpenAI

        @functools.cache
        def _client():
            return OpenAI(timeout=30)

        def view(request):
            client = _client()
            return JsonResponse(client.chat.completions.create(model="m", messages=[]))
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR201", 11)]


def test_a_sync_view_using_a_client_from_an_uncached_helper_also_builds_it_per_request(audit: Audit):
    findings = audit("""
        from django.http import JsonResponse
        from openai import OpenAI

        def _client():
            return OpenAI(timeout=30)

        def view(request):
            client = _client()
            return JsonResponse(client.chat.completions.create(model="m", messages=[]))
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR203", 8), ("LR201", 9)]


def test_a_sync_view_using_a_module_client_built_by_a_helper_is_reported(audit: Audit):
    findings = audit("""
        import anthropic
        from django.http import JsonResponse

        def _client():
            return anthropic.Anthropic(timeout=30)

        client = _client()

        def view(request):
            return JsonResponse(client.messages.create(model="m", max_tokens=10, messages=[]))
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR201", 10)]


def test_an_async_function_using_a_sync_client_from_a_helper_is_reported(audit: Audit):
    findings = audit(
        files={
            "app/llm.py": "import functools\nimport anthropic\n\n@functools.lru_cache(maxsize=1)\n"
            "def claude():\n    return anthropic.Anthropic(timeout=30)\n",
            "app/views.py": "from django.http import JsonResponse\nfrom app.llm import claude\n\n"
            "async def view(request):\n"
            "    return JsonResponse(claude().messages.create(model='m', max_tokens=10, messages=[]))\n",
        }
    )
    assert [(f.rule, f.path, f.line) for f in findings] == [("LR101", "app/views.py", 5)]


def test_an_async_client_from_a_helper_is_fine_in_an_async_view(audit: Audit):
    assert (
        audit("""
        import functools
        from django.http import JsonResponse
        from openai import AsyncOpenAI

        @functools.cache
        def _client():
            return AsyncOpenAI(timeout=30)

        async def view(request):
            client = _client()
            return JsonResponse(await client.chat.completions.create(model="m", messages=[]))
    """)
        == []
    )


def test_a_client_from_a_decorated_helper_is_still_its_client(audit: Audit):
    findings = audit("""
        from django.http import JsonResponse
        from openai import OpenAI
        from app.wrappers import instrumented

        @instrumented
        def _client():
            return OpenAI(timeout=30)

        def view(request):
            return JsonResponse(_client().chat.completions.create(model="m", messages=[]))
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR201", 10), ("LR203", 10)]


def test_a_client_built_inside_a_view_is_reported(audit: Audit):
    findings = audit("""
        import httpx
        from django.http import JsonResponse

        async def view(request):
            async with httpx.AsyncClient(timeout=5) as client:
                return await client.get("https://x.invalid")
    """)
    assert rules_of(findings) == ["LR203"]


def test_a_view_calling_a_factory_that_builds_a_client_each_time_is_reported(audit: Audit):
    findings = audit("""
        from django.http import JsonResponse
        from openai import AsyncOpenAI

        def make_client():
            return AsyncOpenAI(timeout=30)

        async def view(request):
            return JsonResponse(await make_client().models.list())
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR203", 8)]


def test_a_cached_factory_is_fine(audit: Audit):
    assert (
        audit("""
        import functools
        from openai import AsyncOpenAI

        @functools.cache
        def client():
            return AsyncOpenAI(timeout=30)

        async def view(request):
            return await client().models.list()
    """)
        == []
    )


def test_requests_without_a_timeout_on_the_request_path_is_reported(audit: Audit):
    findings = audit(
        "import requests\nfrom django.http import HttpResponse\n\ndef fetch():\n"
        "    return requests.post('https://x.invalid', json={})\n\ndef view(request):\n"
        "    return HttpResponse(fetch())\n"
    )
    assert [(f.rule, f.line) for f in findings] == [("LR204", 5)]


def test_requests_without_a_timeout_off_the_request_path_is_left_alone(audit: Audit):
    # A management command, a Celery task, a script: a hang there holds no request.
    assert audit("import requests\n\ndef job():\n    return requests.post('https://x.invalid', json={})\n") == []


def test_urlopen_with_a_positional_timeout_is_fine(audit: Audit):
    assert (
        audit("from urllib.request import urlopen\n\ndef job():\n    return urlopen('https://x.invalid', None, 5)\n")
        == []
    )


def test_an_explicit_timeout_none_is_reported(audit: Audit):
    assert rules_of(audit("import httpx\n\nclient = httpx.Client(timeout=None)\n")) == ["LR204"]


def test_an_llm_client_without_a_timeout_is_an_info(audit: Audit):
    findings = audit("from openai import AsyncOpenAI\n\nclient = AsyncOpenAI()\n")
    assert [(f.rule, f.severity) for f in findings] == [("LR205", "info")]


def test_a_function_taking_request_outside_a_django_module_is_not_a_view(audit: Audit):
    assert (
        audit(
            files={
                "app/hooks.py": """
        import httpx

        def sign(request: httpx.Request):
            with httpx.Client(timeout=5) as client:
                return client.get("https://keys.invalid")
    """
            }
        )
        == []
    )


def test_a_call_passing_keyword_options_through_is_not_assumed_to_lack_a_timeout(audit: Audit):
    assert (
        audit("import requests\n\ndef job(**options):\n    return requests.get('https://x.invalid', **options)\n") == []
    )
