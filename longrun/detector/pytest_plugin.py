"""The pytest plugin: fail a test that makes a blocking call on its event loop, with the line that did.

Per test, request the ``no_blocking`` fixture. For every test, pass ``--longrun-detect-blocking`` or set the
ini option ``longrun_detect_blocking = true``; ``@pytest.mark.allow_blocking`` then exempts a test. Only code
running on a thread whose event loop is running is checked (async tests and fixtures, and whatever a sync
test runs through ``async_to_sync`` or ``asyncio.run``), so sync tests cost nothing but the patching.

A blocking call raises ``BlockingCallError`` where it happens. Code under test that catches it (``except
Exception`` in a view, say) would hide it, so each phase (setup, call, teardown) also fails when the detector
recorded a report during it.

pytest loads this plugin in every environment where longrun is installed, so it imports blockbuster (the
``[detector]`` extra) only when a test asks for the detector; asked for without it, the run stops at start-up
with the command that installs it.
"""

from __future__ import annotations

import gc
from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from longrun.extras import MissingExtra

if TYPE_CHECKING:
    from longrun.detector.blocking import BlockingDetector

FLAG = "--longrun-detect-blocking"
DEST = "longrun_detect_blocking"
INI = "longrun_detect_blocking"
FIXTURE = "no_blocking"
MARK = "allow_blocking"

# Per test: the detector checking it, whether this plugin activated it (and so deactivates it), and how many
# reports it held when the current phase began.
_DETECTOR = pytest.StashKey["BlockingDetector"]()
_OWNED = pytest.StashKey[bool]()
_SEEN = pytest.StashKey[int]()
# Per session: the plugin's own detector, built once and activated around each checked test.
_SESSION_DETECTOR = pytest.StashKey["BlockingDetector"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the flag and the ini option (pytest's start-up hook)."""
    group = parser.getgroup("longrun", "longrun blocking detector")
    group.addoption(
        FLAG,
        action="store_true",
        default=False,
        dest=DEST,
        help="Fail every test that makes a blocking call on a running event loop (longrun.detector).",
    )
    parser.addini(INI, type="bool", default=False, help=f"Same as {FLAG}, on for every run.")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (so --strict-markers accepts it); stop at once if the detector is asked for but missing."""
    config.addinivalue_line("markers", f"{MARK}: the blocking detector of longrun does not check this test.")
    if config.getoption(DEST) or config.getini(INI):
        try:
            import longrun.detector.blocking  # noqa: F401
        except MissingExtra as exc:
            raise pytest.UsageError(f"{FLAG} / {INI}: {exc}") from None


def _wanted(item: pytest.Item) -> bool:
    """Whether the detector checks this test; decided before its setup."""
    if item.get_closest_marker(MARK) is not None:
        return False
    if FIXTURE in getattr(item, "fixturenames", ()):
        return True
    return bool(item.config.getoption(DEST) or item.config.getini(INI))


def _begin_phase(item: pytest.Item) -> BlockingDetector | None:
    """Start a phase of a checked test: the detector is activated before setup and kept until teardown ends."""
    detector = item.stash.get(_DETECTOR, None)
    if detector is None:
        if not _wanted(item):
            return None
        from longrun.detector.blocking import BlockingDetector, active_detector

        # A detector switched on elsewhere (LONGRUN_DETECT_BLOCKING in the settings) is reused as it is:
        # blockbuster patches process-wide, so two at once would patch the patches.
        existing = active_detector()
        if existing is not None:
            detector = existing
        else:
            if _SESSION_DETECTOR not in item.config.stash:
                item.config.stash[_SESSION_DETECTOR] = BlockingDetector()
            detector = item.config.stash[_SESSION_DETECTOR]
        detector.activate()
        item.stash[_DETECTOR] = detector
        item.stash[_OWNED] = existing is None
    item.stash[_SEEN] = len(detector.reports)
    return detector


def _end_phase(item: pytest.Item, detector: BlockingDetector, raised: BaseException | None) -> None:
    """End a phase of a checked test: fail it on a blocking call that the code under test swallowed."""
    __tracebackhide__ = True
    from longrun.detector.blocking import BlockingCallError

    new = detector.reports[item.stash[_SEEN] :]
    if not new:
        return
    # The exception raised in place of the blocking call can strand what the library was opening (a socket that
    # socket.create_connection only closes on OSError). Collect it now, so its ResourceWarning fails this test
    # rather than whichever test the garbage collector happens to run in.
    gc.collect()
    if isinstance(raised, BlockingCallError):
        return
    why = (
        "The BlockingCallError raised there was caught by the code under test"
        if detector.raise_errors
        else "The active detector only logs (LONGRUN_DETECT_BLOCKING = 'log'), so the call went on"
    )
    error = BlockingCallError(new[0])
    error.args = (
        f"{new[0].summary()}\n({why}; {len(new)} blocking call(s) in this phase, the first shown. Full stacks "
        "are in the longrun.detector log records.)",
    )
    raise error from raised


def _finish(item: pytest.Item) -> None:
    """After teardown: deactivate the detector if this plugin activated it."""
    detector = item.stash.get(_DETECTOR, None)
    if detector is not None and item.stash[_OWNED]:
        detector.deactivate()


def _phase(item: pytest.Item) -> Generator[None, object, object]:
    """The body of the three phase wrappers below."""
    __tracebackhide__ = True
    detector = _begin_phase(item)
    if detector is None:
        return (yield)
    try:
        result = yield
    except BaseException as exc:
        _end_phase(item, detector, exc)
        raise
    _end_phase(item, detector, None)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    """Wrap a test's setup: the detector is on from the first fixture."""
    __tracebackhide__ = True
    return (yield from _phase(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Wrap the test itself."""
    __tracebackhide__ = True
    return (yield from _phase(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """Wrap a test's teardown: the detector stays on until the last fixture is done."""
    __tracebackhide__ = True
    try:
        return (yield from _phase(item))
    finally:
        _finish(item)


@pytest.fixture
def no_blocking(request: pytest.FixtureRequest) -> BlockingDetector:
    """Have the detector check this test; gives the active detector (for ``.reports``)."""
    node: pytest.Item = request.node
    detector = node.stash.get(_DETECTOR, None)
    if detector is None:  # under @pytest.mark.allow_blocking, which wins
        pytest.fail(f"{FIXTURE} and @pytest.mark.{MARK} contradict each other: keep one.")
    return detector
