"""The environment of a demo server that another process starts: the race's, the benchmarks' and the tests' servers.

Such a server gets a database of its own, migrated before it starts (a server must not be the one to find an
empty SQLite file under load), and the LLM it is to call. Everything else comes from this process's
environment, overridden by keyword: ``server_env(database_url=..., llm_url=..., DJANGO_DEBUG="false")``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def server_env(
    *, database_url: str, llm_url: str, settings_module: str = "project.settings", **overrides: str
) -> dict[str, str]:
    """This process's environment with the server's settings module, database and LLM, then ``overrides``."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url,
        "LLM_BASE_URL": llm_url,
        **overrides,
    }


def sqlite_url(directory: Path, name: str = "db.sqlite3") -> str:
    """The ``DATABASE_URL`` of a SQLite file in ``directory``."""
    return f"sqlite:///{directory / name}"


def migrate(env: Mapping[str, str]) -> None:
    """Migrates the database ``env`` names, in a child process with that environment.

    Raises ``RuntimeError`` with the command's output when it fails (a bad ``DATABASE_URL``, a server that is
    down), so the caller can show why its servers never started.
    """
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        output = (done.stdout + done.stderr).strip()
        reason = output.splitlines()[-1] if output else "no output"
        raise RuntimeError(
            f"migrate failed for {env.get('DATABASE_URL')!r} (status {done.returncode}): {reason}\n{output[-2000:]}"
        )


def migrated_sqlite_env(
    directory: Path, *, llm_url: str, settings_module: str = "project.settings", **overrides: str
) -> dict[str, str]:
    """``server_env`` on a SQLite file in ``directory``, migrated: what a throwaway server needs."""
    env = server_env(database_url=sqlite_url(directory), llm_url=llm_url, settings_module=settings_module, **overrides)
    migrate(env)
    return env
