"""Which loop an async function runs on: the server's, or a private one a sync caller starts for it."""

from __future__ import annotations

from pathlib import Path

from longrun.audit.analysis.context import Context
from longrun.audit.analysis.loops import off_loop
from longrun.audit.analysis.project import load_project
from tests.longrun.audit.conftest import write_tree


def off(tmp_path: Path, source: str) -> dict[str, bool]:
    write_tree(tmp_path, {"app/__init__.py": "", "app/work.py": source})
    ctx = Context(load_project(tmp_path))
    ctx.prepare()
    return {fn.node.name: off_loop(ctx, fn) for fn in ctx.project.functions() if fn.is_async}


def test_run_by_asyncio_run_or_async_to_sync_from_sync_code_is_off_the_servers_loop(tmp_path: Path):
    found = off(
        tmp_path,
        """
        import asyncio
        from asgiref.sync import async_to_sync

        async def job():
            await helper()

        async def helper():
            pass

        async def other():
            pass

        def task():
            asyncio.run(job())
            async_to_sync(other)()
        """,
    )
    assert found == {"job": True, "helper": True, "other": True}


def test_a_view_an_unknown_caller_or_no_caller_keeps_it_on_the_loop(tmp_path: Path):
    found = off(
        tmp_path,
        """
        import asyncio
        from django.http import JsonResponse

        async def shared():
            pass

        async def orphan():
            pass

        async def handed_on():
            pass

        async def view(request):
            await shared()
            return JsonResponse({})

        def task():
            asyncio.run(shared())
            return handed_on()
        """,
    )
    assert found == {"shared": False, "orphan": False, "handed_on": False, "view": False}


def test_celery_tasks_and_what_only_they_await_are_off_the_loop(tmp_path: Path):
    found = off(
        tmp_path,
        """
        from celery import shared_task

        async def step():
            pass

        @shared_task
        async def task():
            await step()

        @app.task(bind=True)
        async def bound(self):
            pass
        """,
    )
    assert found == {"step": True, "task": True, "bound": True}
