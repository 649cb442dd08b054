"""The blocking-call detector: blockbuster patches the blocking functions, this module reports and allows.

blockbuster (https://github.com/cbornet/blockbuster) replaces ``time.sleep``, socket, file, ``sqlite3`` and
``threading.Lock`` methods with checkers that raise ``BlockingError`` when called on a thread whose event
loop is running; worker threads (``sync_to_async``, ``asyncio.to_thread``) are never checked. Its error names
only the function. On top of each checker this module adds a thin layer that turns the error into a report
pointing at the user's own line (``report.py``), logs it on the ``longrun.detector`` logger, keeps it on the
detector (so a test still fails when the code under test swallows the exception), and lets
``allow_blocking()`` switch checks off for a block of code.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextvars import ContextVar
from types import FrameType, TracebackType
from typing import Any

from longrun.extras import MissingExtra

try:
    from blockbuster import BlockBuster, BlockBusterFunction, BlockingError
except ImportError as exc:
    raise MissingExtra("The blocking detector (longrun.detector)", "detector", "blockbuster") from exc

from longrun.detector.report import BlockingReport, build_report

logger = logging.getLogger("longrun.detector")

# (file name suffix, function names): blocking is allowed while such a frame is on the stack. Each entry is
# plumbing that blocks on the loop by design, where no user code can change anything.
DEFAULT_ALLOW: tuple[tuple[str, frozenset[str]], ...] = (
    # Django builds the middleware chain once per handler. ASGIHandler does it at import, off the loop; the test
    # AsyncClient's handler does it on its first request, on the loop (ServeStatic's __init__ scans the static
    # directories then). Start-up work, not request work: nothing to fix.
    ("django/core/handlers/base.py", frozenset({"load_middleware"})),
    # ASGIHandler.read_body spools a request body into a SpooledTemporaryFile; past FILE_UPLOAD_MAX_MEMORY_SIZE
    # the chunk that overflows it creates the temporary file and writes it on the loop (later chunks go through
    # sync_to_async). Django's plumbing, once per large upload: the user can only tune the setting. A view that
    # then reads such a body (request.body) is still reported: that read is the user's to move off the loop.
    ("django/core/handlers/asgi.py", frozenset({"read_body"})),
    # A module imported for the first time while the loop runs (a lazy import inside an SDK's constructor) reads
    # its files once per process. blockbuster already lets imports stat files; reading and listing them is the
    # same one-off cost. A slow import still shows up in the loop-lag monitor.
    ("<frozen importlib._bootstrap>", frozenset({"_find_and_load"})),
    # Python's logging is synchronous by design: a handler writes its record where it is emitted. A detector that
    # failed every log line on the loop would be switched off; a handler that is slow shows in the loop-lag
    # monitor, and the fix for it (a QueueHandler) is a logging decision, not a per-call one.
    ("logging/__init__.py", frozenset({"emit"})),
    # Playwright's sync API runs its own private event loop in the test's thread; starting it, the driver looks
    # for its executable on disk. That loop serves only Playwright, never the application under test.
    ("playwright/_impl/_driver.py", frozenset({"compute_driver_executable"})),
    # Libraries look up their own version in their installed metadata (redis-py on every new connection, httpcore
    # at import): a small read of local files that the caller cannot move off the loop.
    ("importlib/metadata/__init__.py", frozenset({"version"})),
)

# True while checks are off for the current context: inside ``allow_blocking()``, and while a report is being
# built and logged (logging handlers may write files or take locks; that must not report itself). A context
# variable rather than a thread-local so that ``allow_blocking()`` in one task does not leak to the others
# sharing the loop's thread.
_suspended: ContextVar[bool] = ContextVar("longrun_detector_suspended", default=False)

_active_lock = threading.Lock()
_active: BlockingDetector | None = None


class BlockingCallError(BlockingError):
    """Raised in place of blockbuster's ``BlockingError``, its message pointing at the user's line."""

    def __init__(self, report: BlockingReport) -> None:
        super().__init__(report.function)
        self.args = (report.summary(),)
        self.report = report


class BlockingDetector:
    """One process-wide set of patched blocking functions; activated for a test, a request stack or a run."""

    def __init__(
        self,
        *,
        functions: Collection[str] | None = None,
        allow: Iterable[tuple[str, str | Iterable[str]]] = (),
        scanned_modules: Sequence[str] | None = None,
        raise_errors: bool = True,
        log: logging.Logger = logger,
    ) -> None:
        """``functions`` picks blockbuster's names (or prefixes such as ``"socket"``).

        ``allow`` adds ``(file name suffix, function name(s))`` pairs where blocking is accepted, on top of
        ``DEFAULT_ALLOW``. ``scanned_modules`` limits reports to calls with one of those modules on the stack
        (blockbuster's own option; None checks everything). With ``raise_errors=False`` a blocking call is
        logged and recorded but allowed to go on.
        """
        self._buster = BlockBuster(scanned_modules)
        self._buster.functions = select_functions(self._buster.functions, functions)
        for filename, names in (*DEFAULT_ALLOW, *allow):
            for function in self._buster.functions.values():
                function.can_block_in(filename, names)
        self.raise_errors = raise_errors
        self.log = log
        self.reports: list[BlockingReport] = []

    @property
    def active(self) -> bool:
        """Whether this detector's patches are in place."""
        return _active is self

    @property
    def function_names(self) -> list[str]:
        """The blockbuster names this detector watches."""
        return sorted(self._buster.functions)

    def activate(self) -> None:
        """Starts detecting; only one detector may be active in a process at a time."""
        global _active
        with _active_lock:
            if _active is self:
                return
            if _active is not None:
                raise RuntimeError(
                    "Another BlockingDetector is already active in this process: reuse it "
                    "(longrun.detector.active_detector()) or deactivate it first."
                )
            self._buster.activate()
            for function in self._buster.functions.values():
                if function.activated:
                    self._add_reporting_layer(function)
            _active = self

    def deactivate(self) -> None:
        """Stops detecting: puts every original function back."""
        global _active
        with _active_lock:
            if _active is not self:
                return
            # blockbuster restores the functions it saved before patching, which removes our layer with its own.
            self._buster.deactivate()
            _active = None

    def __enter__(self) -> BlockingDetector:
        self.activate()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.deactivate()

    def _add_reporting_layer(self, function: BlockBusterFunction) -> None:
        """Wraps one function blockbuster has just patched, so that a refusal is reported our way."""
        checker: Callable[..., Any] = getattr(function.module, function.func_name)
        original: Callable[..., Any] = function.original_func  # type: ignore[assignment]
        name = function.full_name
        on_block = self._blocked

        def reporting(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True  # pytest shows the user's frame last, not this layer
            if _suspended.get():
                return original(*args, **kwargs)
            try:
                return checker(*args, **kwargs)
            except BlockingError:
                caller = sys._getframe(1)
                if not _loop_runs_this_stack(caller):
                    return original(*args, **kwargs)
                error = on_block(name, caller)
            if error is None:
                return original(*args, **kwargs)
            raise error from None  # the report says everything blockbuster's error said, and where

        _install(function.module, function.func_name, reporting)

    def _blocked(self, name: str, caller: FrameType) -> BlockingCallError | None:
        """Records and logs a call blockbuster refused."""
        token = _suspended.set(True)
        try:
            report = build_report(name, caller)
            self.reports.append(report)
            self.log.error("%s", report.format(), extra={"longrun_report": report})
        finally:
            _suspended.reset(token)
        return BlockingCallError(report) if self.raise_errors else None


def _loop_runs_this_stack(frame: FrameType | None) -> bool:
    """Whether the running loop, when blockbuster refused a call, is really the one this code runs in.

    blockbuster asks ``asyncio.get_running_loop()``, which only reads a per-thread marker. Greenlet-based sync
    APIs (Playwright's) leave that marker set while the user's code runs in another greenlet, the loop suspended
    and waiting for the next sync call: nothing is stalled then. A loop really runs a callback when its
    ``_run_once``/``run_forever`` frame is on the stack.
    """
    loop = asyncio.get_running_loop()
    if not isinstance(loop, asyncio.BaseEventLoop):
        return True  # uvloop and other compiled loops leave no Python frame to look for: trust the marker
    while frame is not None:
        if frame.f_code.co_name in _LOOP_FRAMES and frame.f_locals.get("self") is loop:
            return True
        frame = frame.f_back
    return False


_LOOP_FRAMES = frozenset({"_run_once", "run_forever"})


def select_functions(
    functions: dict[str, BlockBusterFunction], wanted: Collection[str] | None
) -> dict[str, BlockBusterFunction]:
    """The functions named by ``wanted`` (exact names or dotted prefixes)."""
    if wanted is None:
        return dict(functions)
    unknown = [w for w in wanted if not any(_matches(name, w) for name in functions)]
    if unknown:
        raise ValueError(f"Unknown blocking functions {unknown}: choose among {sorted(functions)}.")
    return {name: f for name, f in functions.items() if any(_matches(name, w) for w in wanted)}


def _matches(name: str, wanted: str) -> bool:
    return name == wanted or name.startswith(wanted + ".")


def _install(target: object, attribute: str, value: Callable[..., Any]) -> None:
    """Sets ``value`` where blockbuster set its checker, the same way it did."""
    try:
        setattr(target, attribute, value)
    except TypeError:
        # Built-in types (io.BufferedReader, sqlite3.Cursor, _thread.lock) refuse setattr; blockbuster patches
        # them with forbiddenfruit (CPython only), and so must we, or the layer would silently be missing.
        forbiddenfruit = importlib.import_module("forbiddenfruit")
        forbiddenfruit.curse(target, attribute, value)


def active_detector() -> BlockingDetector | None:
    """The detector active in this process, if any."""
    return _active


@contextlib.contextmanager
def detect_blocking(**options: Any) -> Iterator[BlockingDetector]:
    """``with detect_blocking():`` around code to check; takes ``BlockingDetector``'s options."""
    with BlockingDetector(**options) as detector:
        yield detector


@contextlib.contextmanager
def allow_blocking() -> Iterator[None]:
    """``with allow_blocking():`` around a blocking call you have decided to accept."""
    token = _suspended.set(True)
    try:
        yield
    finally:
        _suspended.reset(token)
