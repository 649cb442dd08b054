"""The async-function rules (LR101-LR110): each fires on its problem and stays quiet on the correct form."""

from __future__ import annotations

from tests.longrun.audit.conftest import Audit, rules_of


def test_requests_in_an_async_view_is_a_blocking_network_call(audit: Audit):
    findings = audit("""
        import requests

        async def view(request):
            return requests.get("https://x.invalid", timeout=5)
    """)
    assert rules_of(findings) == ["LR101"]
    assert findings[0].line == 4 and findings[0].severity == "error"


def test_a_module_level_sync_openai_client_used_in_async_code_is_blocking(audit: Audit):
    findings = audit("""
        from openai import OpenAI

        client = OpenAI(timeout=30)

        async def view(request):
            return client.chat.completions.create(model="m", messages=[])
    """)
    assert rules_of(findings) == ["LR101"]
    assert "openai.OpenAI" in findings[0].message


def test_a_client_from_a_typed_factory_is_recognised(audit: Audit):
    findings = audit("""
        import anthropic

        def get_client() -> anthropic.Anthropic:
            ...

        async def view(request):
            return get_client().messages.create(model="m", messages=[], max_tokens=10)
    """)
    assert rules_of(findings) == ["LR101"]


def test_an_awaited_async_client_is_not_blocking(audit: Audit):
    assert (
        audit("""
        from openai import AsyncOpenAI

        client = AsyncOpenAI(timeout=30)

        async def view(request):
            return await client.chat.completions.create(model="m", messages=[])
    """)
        == []
    )


def test_time_sleep_in_an_async_function_is_reported_with_the_asyncio_fix(audit: Audit):
    findings = audit("""
        import time

        async def tick():
            time.sleep(1)
    """)
    assert rules_of(findings) == ["LR102"]
    assert "asyncio.sleep" in findings[0].message


def test_time_sleep_in_a_sync_function_is_fine(audit: Audit):
    assert audit("import time\n\ndef tick():\n    time.sleep(1)\n") == []


def test_open_in_an_async_function_is_blocking_file_io(audit: Audit):
    assert rules_of(audit("async def load():\n    return open('x').read()\n")) == ["LR103"]


def test_an_awaited_path_method_is_not_blocking_file_io(audit: Audit):
    assert (
        audit("""
        import anyio

        async def load():
            return await anyio.Path("x").read_text()
    """)
        == []
    )


def test_a_sync_orm_call_in_an_async_function_is_reported(audit: Audit):
    findings = audit("""
        from app.models import Book

        async def view(request):
            return Book.objects.filter(title="x").first()
    """)
    assert rules_of(findings) == ["LR104"]
    assert "raises SynchronousOnlyOperation: use `await Book.objects.filter(title='x').afirst()`" in findings[0].message


def test_save_on_an_instance_fetched_asynchronously_is_a_sync_orm_call(audit: Audit):
    findings = audit("""
        from app.models import Book

        async def view(request):
            book = await Book.objects.aget(pk=1)
            book.save()
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR104", 5)]


def test_the_a_prefixed_twins_are_fine(audit: Audit):
    assert (
        audit("""
        from app.models import Book

        async def view(request):
            book = await Book.objects.aget(pk=1)
            await book.asave()
            return await Book.objects.filter(title="x").acount()
    """)
        == []
    )


def test_get_on_something_that_is_not_a_queryset_is_fine(audit: Audit):
    assert (
        audit("""
        async def view(request, data: dict):
            return data.get("k"), request.GET.get("q"), request.session.get("s")
    """)
        == []
    )


def test_iterating_a_queryset_with_for_in_async_code_is_reported(audit: Audit):
    findings = audit("""
        from app.models import Book

        async def view(request):
            books = Book.objects.all()
            for book in books:
                print(book)
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR105", 5)]


def test_async_for_and_async_comprehensions_are_fine(audit: Audit):
    assert (
        audit("""
        from app.models import Book

        async def view(request):
            titles = [b.title async for b in Book.objects.all()]
            async for book in Book.objects.filter(title="x"):
                titles.append(book.title)
            return titles
    """)
        == []
    )


def test_async_to_sync_inside_an_async_function_is_reported(audit: Audit):
    findings = audit("""
        from asgiref.sync import async_to_sync

        async def view(request):
            return async_to_sync(other)()

        async def other():
            return 1
    """)
    assert rules_of(findings) == ["LR106"]


def test_async_to_sync_in_a_sync_function_is_fine(audit: Audit):
    assert (
        audit("""
        from asgiref.sync import async_to_sync

        def handle():
            return async_to_sync(other)()

        async def other():
            return 1
    """)
        == []
    )


def test_orm_through_thread_unsafe_sync_to_async_is_reported(audit: Audit):
    findings = audit("""
        from asgiref.sync import sync_to_async
        from app.models import Book

        def titles():
            return list(Book.objects.values_list("title", flat=True))

        async def view(request):
            return await sync_to_async(titles, thread_sensitive=False)()
    """)
    assert rules_of(findings) == ["LR107"]


def test_a_thread_unsafe_function_that_closes_its_connection_is_fine(audit: Audit):
    assert (
        audit("""
        from asgiref.sync import sync_to_async
        from django.db import connection
        from app.models import Book

        def count():
            try:
                return Book.objects.count()
            finally:
                connection.close()

        async def view(request):
            return await sync_to_async(count, thread_sensitive=False)()
    """)
        == []
    )


def test_request_user_in_an_async_view_is_reported(audit: Audit):
    findings = audit(
        "from django.http import JsonResponse\n\nasync def view(request):\n"
        "    return JsonResponse({'pk': request.user.pk})\n"
    )
    assert rules_of(findings) == ["LR108"]
    assert "auser" in findings[0].message


def test_request_auser_is_fine(audit: Audit):
    assert audit("async def view(request):\n    user = await request.auser()\n    return user.pk\n") == []


def test_a_foreign_key_read_without_select_related_is_reported(audit: Audit):
    findings = audit("""
        from app.models import Book

        async def view(request):
            book = await Book.objects.filter(title="x").afirst()
            return book.author.name
    """)
    assert rules_of(findings) == ["LR109"]
    assert 'select_related("author")' in findings[0].message


def test_a_foreign_key_loaded_by_select_related_or_read_by_id_is_fine(audit: Audit):
    assert (
        audit("""
        from app.models import Book

        async def view(request):
            book = await Book.objects.select_related("author").aget(pk=1)
            other = await Book.objects.aget(pk=2)
            return book.author.name, other.author_id, other.title
    """)
        == []
    )


def test_a_foreign_key_read_on_each_row_of_an_async_for_is_reported(audit: Audit):
    findings = audit("""
        from app.models import Book

        async def view(request):
            async for book in Book.objects.all():
                print(book.author)
    """)
    assert rules_of(findings) == ["LR109"]


def test_transaction_atomic_in_an_async_function_is_reported(audit: Audit):
    findings = audit("""
        from django.db import transaction

        async def view(request):
            with transaction.atomic():
                pass
    """)
    assert rules_of(findings) == ["LR110"]


def test_transaction_atomic_decorating_an_async_function_is_reported(audit: Audit):
    findings = audit("""
        from django.db import transaction

        @transaction.atomic
        async def view(request):
            pass
    """)
    assert rules_of(findings) == ["LR110"]


def test_a_sync_helper_with_orm_is_reported_at_the_async_call_site(audit: Audit):
    findings = audit(
        files={
            "app/services.py": "from app.models import Book\n\ndef titles():\n    return Book.objects.count()\n",
            "app/views.py": "from app import services\n\nasync def view(request):\n    return services.titles()\n",
        }
    )
    assert [(f.rule, f.path, f.line) for f in findings] == [("LR104", "app/views.py", 4)]
    assert "app/services.py:4" in findings[0].message
    assert "sync_to_async(services.titles)" in findings[0].message


def test_a_self_method_with_blocking_io_is_followed(audit: Audit):
    findings = audit("""
        import time

        class Poller:
            async def run(self):
                self.wait()

            def wait(self):
                time.sleep(1)
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR102", 5)]


def test_a_helper_passed_to_sync_to_async_is_not_followed(audit: Audit):
    assert (
        audit("""
        from asgiref.sync import sync_to_async
        from app.models import Book

        def titles():
            return list(Book.objects.all())

        async def view(request):
            return await sync_to_async(titles)()
    """)
        == []
    )


def test_a_helper_decorated_with_database_sync_to_async_is_not_followed(audit: Audit):
    assert (
        audit("""
        from channels.db import database_sync_to_async
        from app.models import Book

        @database_sync_to_async
        def titles():
            return list(Book.objects.all())

        async def view(request):
            return await titles()
    """)
        == []
    )


def test_a_helper_chain_of_any_depth_is_followed_and_shown(audit: Audit):
    findings = audit("""
        import time

        def inner():
            time.sleep(1)

        def middle():
            inner()

        def outer():
            middle()

        async def view(request):
            outer()
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR102", 13)]
    assert "`view` -> `outer()` (app/views.py:9) -> `middle()` (app/views.py:6) -> `inner()` (app/views.py:3)" in (
        findings[0].message
    )


def test_a_recursive_helper_chain_ends(audit: Audit):
    findings = audit("""
        import time

        def ping(n):
            if n:
                pong(n - 1)
            time.sleep(1)

        def pong(n):
            ping(n)

        async def view(request):
            ping(3)
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR102", 12)]


def test_building_an_async_to_sync_wrapper_without_calling_it_is_fine(audit: Audit):
    assert (
        audit("""
        from asgiref.sync import async_to_sync

        class Consumer:
            async def __call__(self, send):
                self.base_send = async_to_sync(send)
    """)
        == []
    )


def test_a_local_variable_named_like_a_module_hides_it(audit: Audit):
    assert (
        audit("""
        import requests

        async def view(request, key):
            requests = {"a": 1}
            return requests.get(key)
    """)
        == []
    )


def test_request_user_of_a_closure_is_not_the_functions_own_request(audit: Audit):
    assert (
        audit("""
        from django.http import HttpRequest

        def build(request: HttpRequest):
            async def auser():
                return request.user
            request.auser = auser
    """)
        == []
    )


def test_a_relation_of_a_freshly_created_instance_is_not_lazy(audit: Audit):
    assert (
        audit("""
        from app.models import Author, Book

        async def view(request):
            author = await Author.objects.aget(pk=1)
            book = await Book.objects.acreate(title="x", author=author)
            return book.author.name
    """)
        == []
    )


def test_saving_a_model_built_in_the_function_is_a_sync_orm_call(audit: Audit):
    findings = audit("""
        from app.models import Book

        async def view(request):
            book = Book(title="x")
            book.save()
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR104", 5)]


def test_indexing_a_queryset_runs_it_but_slicing_does_not(audit: Audit):
    findings = audit("""
        from app.models import Book

        async def view(request):
            recent = Book.objects.order_by("-pk")[:5]
            return Book.objects.all()[0], recent
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR105", 5)]


def test_objects_on_a_project_class_that_is_not_a_model_is_not_a_queryset(audit: Audit):
    assert (
        audit("""
        class Registry:
            objects = {}

        async def view(request):
            return Registry.objects.get("x")
    """)
        == []
    )


def test_a_model_built_on_a_third_party_base_is_still_a_model(audit: Audit):
    findings = audit(
        files={
            "app/users.py": """
        from django.contrib.auth.models import AbstractUser

        class Member(AbstractUser):
            pass

        async def view(request):
            return Member.objects.get(pk=1)
    """
        }
    )
    assert rules_of(findings) == ["LR104"]


def test_djangos_sync_shortcuts_and_auth_functions_are_sync_orm_calls(audit: Audit):
    findings = audit("""
        from django.contrib.auth import login
        from django.shortcuts import get_object_or_404
        from app.models import Book

        async def view(request, pk):
            book = get_object_or_404(Book, pk=pk)
            login(request, book.author)
    """)
    assert [(f.rule, f.line) for f in findings] == [("LR104", 6), ("LR104", 7)]


RELATED_MODELS = """
from django.db import models


class Tag(models.Model):
    name = models.CharField(max_length=20)


class Post(models.Model):
    tags = models.ManyToManyField(Tag)


class Comment(models.Model):
    post = models.ForeignKey("Post", related_name="comments", on_delete=models.CASCADE)
"""


def test_related_managers_query_like_querysets(audit: Audit):
    findings = audit(
        files={
            "app/models.py": RELATED_MODELS,
            "app/views.py": """
        from app.models import Post, Tag

        async def view(request):
            post = await Post.objects.aget(pk=1)
            tag = await Tag.objects.afirst()
            post.tags.add(tag)
            for comment in post.comments.all():
                print(comment)
            await post.tags.aremove(tag)
    """,
        }
    )
    assert [(f.rule, f.line) for f in findings] == [("LR104", 6), ("LR105", 7)]
