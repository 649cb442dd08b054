"""What a blocking call is reported as: the first frame of the user's own code, the stack, and what to do.

The call that blocked usually sits deep inside a library (``socket.recv`` under ``requests`` under the
``openai`` SDK); the line worth fixing is the last one in the user's code before the stack enters the
libraries. Everything under the interpreter's standard library, any ``site-packages``/``dist-packages``
directory, ``blockbuster`` and ``longrun`` itself counts as library code here.
"""

from __future__ import annotations

import linecache
import os
import site
import sysconfig
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import FrameType

import longrun


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame of the stack that made a blocking call."""

    filename: str
    line: int
    function: str
    module: str
    source: str
    user: bool  # decided when the report is built: formatting later must not touch the file system
    location: str  # ``path:line``, the path relative to the working directory when under it


@dataclass(frozen=True, slots=True)
class BlockingReport:
    """Built when a blocking call is caught on the event loop: what blocked, from where, and the fix."""

    function: str
    stack: tuple[Frame, ...]  # outermost first, the blocking call's direct caller last
    culprit: Frame | None  # the innermost frame in the user's code; None when the stack holds none
    advice: str

    def summary(self) -> str:
        """The exception message: what blocked, the user's line, and what to do instead."""
        lines = [f"Blocking call to {self.function} inside the event loop"]
        if self.culprit is None:
            lines[0] += " (no frame of your own code on the stack)"
        else:
            lines[0] += f", from {self.culprit.location} in {self.culprit.function}"
            if self.culprit.source:
                lines.append(f"    {self.culprit.source}")
        lines.append(self.advice)
        return "\n".join(lines)

    def format(self) -> str:
        """The log record: the summary, then the whole stack with the user's frames marked ``>``."""
        return "\n".join([self.summary(), *format_stack(self.stack)])


# Checked in order: (modules the user's code called into, blocked-function prefixes, fix). A rule matches when
# the entry library is one of its modules (if it names any) and the blocked function has one of its prefixes
# (if it names any). The entry library says more than the function: a ``socket.recv`` reached through
# ``django.db`` wants the async ORM, not an async socket.
_NETWORK = ("socket.", "ssl.")
_ADVICE: tuple[tuple[tuple[str, ...], tuple[str, ...], str], ...] = (
    (
        ("django.db", "django.contrib.auth", "django.contrib.sessions", "psycopg", "psycopg2", "MySQLdb"),
        (),
        "Sync ORM / database access on the event loop: use the a-prefixed method (aget, acreate, asave, "
        "acount, `async for`), or move the queries into one sync function and `await sync_to_async(fn)()`.",
    ),
    (
        (),
        ("sqlite3.",),
        "SQLite access on the event loop: use the a-prefixed ORM method (aget, acreate, asave, `async for`), or "
        "`await sync_to_async(fn)()` around the queries.",
    ),
    (
        ("requests", "urllib3", "urllib.request", "http.client", "httpx", "openai", "anthropic", "smtplib"),
        _NETWORK,
        "A sync network client on the event loop: use its async counterpart (httpx.AsyncClient, AsyncOpenAI, "
        "AsyncAnthropic, aiohttp), or wrap the call in `await sync_to_async(fn, thread_sensitive=False)(...)`.",
    ),
    ((), ("time.sleep",), "time.sleep blocks the event loop: use `await asyncio.sleep(...)`."),
    (
        (),
        _NETWORK,
        "Socket I/O on the event loop: use an async client or asyncio streams, or wrap the call in "
        "`await sync_to_async(fn, thread_sensitive=False)(...)`.",
    ),
    (
        ("subprocess",),
        (),
        "Starting or waiting on a process blocks the event loop: use `await asyncio.create_subprocess_exec(...)`.",
    ),
    (
        (),
        ("io.", "os."),
        "File I/O on the event loop: do it once at start-up, or run it with `await asyncio.to_thread(fn, ...)` "
        "(or sync_to_async).",
    ),
    (
        (),
        ("threading.Lock",),
        "Waiting on a threading.Lock blocks the event loop: use asyncio.Lock in async code, or take the lock "
        "inside a sync function run with sync_to_async.",
    ),
    ((), ("builtins.input",), "input() waits on the terminal: read it before the event loop starts."),
)
_DEFAULT_ADVICE = "Wrap the call in `await sync_to_async(fn)(...)`, or use an async API for it."


def format_stack(stack: Sequence[Frame]) -> list[str]:
    """One line per frame from the loop's entry into the task, the user's frames marked."""
    # Frames above the loop's dispatch of the task (pytest, the server, asyncio.run) are the same for every
    # report and push the useful ones off the screen; the count says they were left out.
    start = next((i + 1 for i in reversed(range(len(stack))) if _is_loop_dispatch(stack[i])), 0)
    lines = ["Stack (innermost last; > marks your code):"]
    if start:
        lines.append(f"   ... {start} outer frames (the event loop and what started it)")
    for frame in stack[start:]:
        lines.append(f" {'>' if frame.user else ' '} {frame.location} in {frame.function}")
        if frame.user and frame.source:
            lines.append(f"       {frame.source}")
    return lines


def _is_loop_dispatch(frame: Frame) -> bool:
    """True for asyncio's frame that runs one callback or task step."""
    return frame.function == "Handle._run" and frame.filename.replace("\\", "/").endswith("asyncio/events.py")


def build_report(function: str, caller: FrameType) -> BlockingReport:
    """The report of a blocking ``function`` called from ``caller``."""
    stack = frames_of(caller)
    index = culprit_index(stack)
    culprit = None if index is None else stack[index]
    entry = stack[index + 1] if index is not None and index + 1 < len(stack) else None
    return BlockingReport(function=function, stack=stack, culprit=culprit, advice=advice_for(function, entry))


def frames_of(frame: FrameType | None) -> tuple[Frame, ...]:
    """``frame`` and its callers, outermost first, kept past the frame's life."""
    return tuple(reversed([_frame(f) for f in _walk(frame)]))


def culprit_index(stack: Sequence[Frame]) -> int | None:
    """The index of the innermost frame in the user's code of a stack from ``frames_of``."""
    return next((i for i in reversed(range(len(stack))) if stack[i].user), None)


def advice_for(function: str, entry: Frame | None) -> str:
    """The fix for ``function`` reached through the ``entry`` library frame."""
    entry_module = entry.module if entry is not None else ""
    for modules, functions, advice in _ADVICE:
        if modules and not any(entry_module == m or entry_module.startswith(m + ".") for m in modules):
            continue
        if functions and not any(function.startswith(f) for f in functions):
            continue
        return advice
    return _DEFAULT_ADVICE


def is_user_file(filename: str) -> bool:
    """True unless the file belongs to the stdlib, an installed package or the toolkit."""
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>: never code the user can edit
        return False
    path = os.path.realpath(filename)
    if any(part in {"site-packages", "dist-packages"} for part in Path(path).parts):
        return False
    return not path.startswith(_library_roots())


@cache
def _library_roots() -> tuple[str, ...]:
    """The directories whose code is never the user's."""
    paths = sysconfig.get_paths()
    roots = {paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib") if name in paths}
    roots.update(site.getsitepackages())
    roots.add(site.getusersitepackages())
    roots.add(str(Path(longrun.__file__).parent))
    try:
        import blockbuster
    except ImportError:
        pass  # the loop-lag monitor runs without the [detector] extra; then no blockbuster frame can be on a stack
    else:
        roots.add(str(Path(blockbuster.__file__).parent))
    return tuple(os.path.join(os.path.realpath(root), "") for root in roots)


def _walk(frame: FrameType | None) -> Iterator[FrameType]:
    """The frame and its callers, innermost first."""
    while frame is not None:
        yield frame
        frame = frame.f_back


def _frame(frame: FrameType) -> Frame:
    """One frame of a kept stack: where it is and whether it is the user's."""
    code = frame.f_code
    line = frame.f_lineno or 0
    return Frame(
        filename=code.co_filename,
        line=line,
        function=getattr(code, "co_qualname", code.co_name),  # co_qualname is 3.11+
        module=str(frame.f_globals.get("__name__", "")),
        source=linecache.getline(code.co_filename, line, frame.f_globals).strip(),
        user=is_user_file(code.co_filename),
        location=f"{_display_path(code.co_filename)}:{line}",
    )


def _display_path(filename: str) -> str:
    """A path relative to the working directory when under it, else as it is."""
    cwd = os.path.join(os.getcwd(), "")
    return filename.removeprefix(cwd) if filename.startswith(cwd) else filename
