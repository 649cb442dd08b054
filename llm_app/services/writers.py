"""Where recording's writes run: no thread per request, no connection held across the LLM wait, nothing lost.

Three writers, one chosen per database and path (``sync_writer``, ``async_pool_writer``):

* **SQLite** (``SQLiteWriter``): one thread with one long-lived connection runs every write of the process, sync
  and async paths alike. Concurrent writers would only contend for SQLite's single file lock, and reopening a
  connection per write is costly. The thread takes whatever has queued up since its last commit and writes it
  in one transaction: at a burst of a thousand starts, a commit serves dozens of calls instead of one. When one
  write of a batch fails (an unknown conversation), the batch rolls back and each of its writes runs again on
  its own, so only that one fails. An async caller awaits a future; nothing
  of the request runs on that thread but the write itself. At exit, whatever is queued is written before the
  process ends (``drain``, also run by the ASGI lifespan's shutdown).
* **PostgreSQL, async path under ASGI** (``AsyncPoolWriter``): psycopg's async connections from a pool of the
  event loop's own; the write runs on the loop, the connection goes back to the pool when it commits. Chosen
  over django-async-backend after measuring both (``docs/benchmarks.md``): the same writes cost 0.64 ms of CPU
  per call here against 1.9 ms through its async ORM (which also ties a connection to the task that first used
  it), and 1.7 ms through Django's sync ORM on the loop's thread pool. In-flight writes are awaited by the
  lifespan's shutdown; any still pending at exit are replayed through the sync twin.
* **PostgreSQL, sync path** (and an async view served by a WSGI server, which gets a new event loop per
  request, so no pool can live on one): ``ReleasingWriter`` runs the write on the caller's thread through
  Django's connection (its psycopg pool) and hands the connection back at once; the async twin runs it on the
  loop's default executor.

The rule the writers share: a write never holds a database connection across the LLM wait. Django closes a
request's connection only when the request ends, so a row written before a 2-30 s call and updated after it
would pin a connection for the whole call (on PostgreSQL, 200 users on a 100-connection server: half got HTTP
500).
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import logging
import queue
import threading
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections, transaction

from llm_app.dbretry import FIRST_DELAY_S, MAX_DELAY_S, RETRY_FOR_S, retrying
from llm_app.services.rows import AsyncCursor, Cursor

T = TypeVar("T")
SyncWrite = Callable[[Cursor, str], T]
AsyncWrite = Callable[[AsyncCursor, str], Awaitable[T]]

logger = logging.getLogger(__name__)

# The most writes one SQLite commit carries: bounds how long the first of them waits for the rest.
MAX_BATCH = 128


@dataclass(slots=True)
class _Job[T]:
    write: SyncWrite[T]
    future: Future[T] = field(default_factory=Future)


class SQLiteWriter:
    """One thread, one connection: every write of the process, batched into shared commits."""

    def __init__(self, alias: str = DEFAULT_DB_ALIAS) -> None:
        self.alias = alias
        self._queue: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0  # commits so far, for tests and measurements

    def start(self) -> None:
        """Starts the thread and opens its connection now (warm start) rather than at the first write."""
        self.run(lambda cursor, alias: None)

    def submit(self, write: SyncWrite[T]) -> Future[T]:
        """Queues ``write(cursor, alias)``; the future resolves once its commit is done."""
        job: _Job[T] = _Job(write)
        self._ensure_thread()
        self._queue.put(job)
        return job.future

    def run(self, write: SyncWrite[T]) -> T:
        return self.submit(write).result()

    async def arun(self, write: SyncWrite[T]) -> T:
        # Shielded: a caller cancelled while its write is queued must not take the write out of the queue.
        return await asyncio.shield(asyncio.wrap_future(self.submit(write)))

    def drain(self, timeout: float | None = 30.0) -> bool:
        """Waits until every write queued so far is committed; False if ``timeout`` passed first."""
        if self._thread is None:
            return True
        marker: Future[None] = self.submit(lambda cursor, alias: None)
        try:
            marker.result(timeout=timeout)
        except TimeoutError:
            return False
        return True

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                # A daemon, so a stuck write never keeps the process alive; drain() at exit writes the queue.
                thread = threading.Thread(target=self._work, name="longrun-db-writer", daemon=True)
                thread.start()
                self._thread = thread
                atexit.register(self.drain)

    def _work(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._commit([job for job in batch if job is not None and job.future.set_running_or_notify_cancel()])

    def _cursor(self) -> _QmarkCursor:
        connection = connections[self.alias]
        connection.ensure_connection()
        # The sqlite3 cursor itself: Django's wrapper rewrites the placeholders with a regex at every execute.
        return _QmarkCursor(connection.connection.cursor())

    def _attempt_batch(self, batch: list[_Job[Any]]) -> list[tuple[bool, Any]]:
        # wrap_database_errors: the raw cursor raises sqlite3's own errors, which dbretry would not know as
        # Django's OperationalError; a locked table ("database table is locked", or "database is locked" once
        # the busy timeout passed) would then lose the batch instead of writing it again.
        with transaction.atomic(using=self.alias), connections[self.alias].wrap_database_errors:
            cursor = self._cursor()
            return [(True, job.write(cursor, self.alias)) for job in batch]

    def _attempt_one(self, job: _Job[Any]) -> tuple[bool, Any]:
        try:
            with transaction.atomic(using=self.alias), connections[self.alias].wrap_database_errors:
                return True, job.write(self._cursor(), self.alias)
        except (OperationalError, InterfaceError):
            raise  # the connection's fault: retried
        except Exception as exc:  # noqa: BLE001 (handed to the writer's caller through its future)
            return False, exc

    def _commit(self, batch: list[_Job[Any]]) -> None:
        connection = connections[self.alias]
        try:
            # A batch whose connection failed did not commit: it is written again on a fresh one (dbretry).
            outcomes = retrying(lambda: self._attempt_batch(batch))
        except (OperationalError, InterfaceError) as exc:
            # Still failing after the retries: every write of the batch is lost. A broken connection must not
            # poison every later write: the next batch reopens it.
            connection.close()
            for job in batch:
                job.future.set_exception(exc)
            return
        except Exception:  # noqa: BLE001 (one write failed, an unknown conversation: the batch rolled back)
            # Each write again in a transaction of its own, so that only the failing one fails.
            outcomes = []
            for job in batch:
                try:
                    outcomes.append(retrying(partial(self._attempt_one, job)))
                except Exception as exc:  # noqa: BLE001 (given up after the retries)
                    connection.close()
                    outcomes.append((False, exc))
        self.batches += 1
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)


class _QmarkCursor:
    """A sqlite3 cursor that takes the ``%s`` placeholders of ``rows``' statements (translated once each)."""

    _translated: dict[str, str] = {}

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Any = ()) -> Any:
        qmark = self._translated.get(sql)
        if qmark is None:
            # rows' statements hold no literal "%": each %s is a placeholder.
            qmark = self._translated[sql] = sql.replace("%s", "?")
        return self._cursor.execute(qmark, params)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> Any:
        return self._cursor.fetchall()


class ReleasingWriter:
    """Runs a write on the caller's thread through Django's connection, then hands the connection back."""

    def __init__(self, alias: str = DEFAULT_DB_ALIAS) -> None:
        self.alias = alias

    def _attempt(self, write: SyncWrite[T]) -> T:
        with transaction.atomic(using=self.alias), connections[self.alias].cursor() as cursor:
            return write(cursor, self.alias)

    def run(self, write: SyncWrite[T]) -> T:
        try:
            return retrying(lambda: self._attempt(write))
        finally:
            # With Django's psycopg pool, close() returns the connection to the pool: the caller may now wait
            # on the LLM for 30 s without holding it.
            connections[self.alias].close()

    async def arun(self, write: SyncWrite[T]) -> T:
        # thread_sensitive=False: writes from many requests run side by side on the default executor instead of
        # queueing behind one request's thread; each closes its connection, so no thread keeps one.
        return await sync_to_async(self.run, thread_sensitive=False)(write)


class AsyncPoolWriter:
    """psycopg async connections from a pool per event loop (PostgreSQL, async path under ASGI)."""

    def __init__(self, alias: str = DEFAULT_DB_ALIAS) -> None:
        self.alias = alias
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._pending: set[asyncio.Task[Any]] = set()
        # What to replay through the sync twin if the process exits with a write still pending.
        self._fallbacks: dict[asyncio.Task[Any], Callable[[], Any]] = {}
        # Loops whose pool ``drain`` closed.
        self._drained: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()
        atexit.register(self._replay_pending)

    async def pool(self) -> Any:
        """This loop's pool, opened (its first connection made) on first use; ``awarm`` calls it at start-up."""
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            from psycopg_pool import AsyncConnectionPool

            pool = self._pools[loop] = AsyncConnectionPool(
                _conninfo(self.alias), open=False, **_pool_options(self.alias)
            )
            await pool.open(wait=True)
        return pool

    async def arun(self, write: AsyncWrite[T], fallback: SyncWrite[T]) -> T:
        """Runs ``write`` in a task of its own (a cancelled caller does not cancel it) and awaits it."""
        if asyncio.get_running_loop() in self._drained:
            # The loop's pool is closed for good (the server is stopping): a late write goes through Django's
            # pool on a worker thread rather than open a pool that nothing would close.
            return await ReleasingWriter(self.alias).arun(fallback)
        task = asyncio.ensure_future(self._run(write))
        self._pending.add(task)
        self._fallbacks[task] = lambda: ReleasingWriter(self.alias).run(fallback)
        task.add_done_callback(self._forget)
        return await asyncio.shield(task)

    async def _attempt(self, write: AsyncWrite[T]) -> T:
        pool = await self.pool()
        async with pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            return await write(cursor, self.alias)

    async def _run(self, write: AsyncWrite[T]) -> T:
        """The write, again on another connection after a connection failure, for up to ``RETRY_FOR_S``."""
        import psycopg

        deadline = asyncio.get_running_loop().time() + RETRY_FOR_S
        delay = FIRST_DELAY_S
        while True:
            try:
                return await self._attempt(write)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                # A database restarting or failing over: the transaction did not commit, so it is run again.
                if asyncio.get_running_loop().time() + delay > deadline:
                    logger.error("A database write failed for %.0f s; giving up: %s", RETRY_FOR_S, exc)
                    raise
                logger.warning("A database write failed (%s); trying again in %.1f s.", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_DELAY_S)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        # A write cancelled by the loop's end (asyncio.run cancels what is left) stays for the replay at exit.
        if not task.cancelled():
            self._fallbacks.pop(task, None)

    async def drain(self) -> None:
        """Waits for every write in flight on this loop, then closes the loop's pool; later writes on this loop
        go through Django's pool."""
        loop = asyncio.get_running_loop()
        self._drained.add(loop)
        while mine := [task for task in self._pending if task.get_loop() is loop and not task.done()]:
            await asyncio.gather(*mine, return_exceptions=True)
        pool = self._pools.pop(loop, None)
        if pool is not None:
            await pool.close()

    def _replay_pending(self) -> None:
        # The loop stopped with writes in flight (a server with no lifespan shutdown). A transaction that never
        # committed wrote nothing, so its sync twin writes it now.
        for task, fallback in list(self._fallbacks.items()):
            if not task.done() or task.cancelled():
                try:
                    fallback()
                except Exception:
                    logger.exception("A write pending at exit could not be replayed.")


def _conninfo(alias: str) -> str:
    settings = connections[alias].settings_dict
    parts = {
        "dbname": settings["NAME"],
        "user": settings.get("USER"),
        "password": settings.get("PASSWORD"),
        "host": settings.get("HOST"),
        "port": settings.get("PORT"),
    }
    from psycopg.conninfo import make_conninfo

    return str(make_conninfo(**{key: str(value) for key, value in parts.items() if value}))


def _pool_options(alias: str) -> dict[str, Any]:
    # DATABASE_POOL_SIZE is what one process may hold: the async path's pool takes all but one connection, left
    # to the process's own sync work (the sweep of orphaned calls, the admin) in Django's pool.
    pool = connections[alias].settings_dict.get("OPTIONS", {}).get("pool") or {}
    size = int(pool.get("max_size", 20))
    return {"min_size": 1, "max_size": max(1, size - 1), "timeout": float(pool.get("timeout", 10.0))}


_lock = threading.Lock()
_writers: dict[tuple[str, str], Any] = {}


def _built[T](kind: str, factory: Callable[[], T]) -> T:
    key = (kind, DEFAULT_DB_ALIAS)
    writer = _writers.get(key)  # the common case takes no lock: this runs on the event loop
    if writer is None:
        with _lock:
            writer = _writers.get(key)
            if writer is None:
                writer = _writers[key] = factory()
    return writer


@functools.cache
def _vendor(alias: str = DEFAULT_DB_ALIAS) -> str:
    # Read once: connections[alias] builds a new wrapper at each access from a thread that has none (the loop's).
    return str(connections[alias].vendor)


def sync_writer() -> SQLiteWriter | ReleasingWriter:
    """The writer of the sync twins for the configured database."""
    if _vendor() == "sqlite":
        return _built("sqlite", SQLiteWriter)
    return _built("releasing", ReleasingWriter)


def async_pool_writer() -> AsyncPoolWriter | None:
    """The async path's own writer when there is one (PostgreSQL); None means: use ``sync_writer()``'s ``arun``."""
    if _vendor() == "postgresql":
        return _built("pool", AsyncPoolWriter)
    return None


async def adrain() -> None:
    """Waits until every write queued or in flight is done (the ASGI lifespan's shutdown, tests)."""
    pool_writer = async_pool_writer()
    if pool_writer is not None:
        await pool_writer.drain()
    writer = sync_writer()
    if isinstance(writer, SQLiteWriter):
        await asyncio.to_thread(writer.drain)


async def awarm() -> None:
    """Opens the database side before the first user: the SQLite writer's thread and connection, or the pool."""
    pool_writer = async_pool_writer()
    if pool_writer is not None:
        await pool_writer.pool()
    writer = sync_writer()
    if isinstance(writer, SQLiteWriter):
        await asyncio.to_thread(writer.start)
