"""Connections: one SQLAlchemy engine, with read and write transactions.

SQLite runs in WAL mode so readers never wait for the writer, and every write
transaction starts with ``BEGIN IMMEDIATE``: taking the write lock up front
means two processes never deadlock upgrading a read lock, they queue on the
busy timeout instead. Its WAL is checkpointed by a thread of each process, not by
whichever commit happens to fill it (db/wal_checkpoints.py). PostgreSQL needs
none of these tricks.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import asyncpg
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from starlette.concurrency import run_in_threadpool

from songforge.db.async_reads import AsyncReads
from songforge.db.keyed_read import KeyedRead
from songforge.db.loop_transactions import LoopTransactions
from songforge.db.prepared import PreparedRow
from songforge.db.wal_checkpoints import WalCheckpoints

T = TypeVar("T")
P = ParamSpec("P")

BUSY_TIMEOUT_MS = 30000
CONNECT_TIMEOUT_SECONDS = 5
# A pooled PostgreSQL connection idle for longer than this is pinged before use
# (a server restart kills idle connections); one in steady use is not, since
# SQLAlchemy's pool_pre_ping would add a round trip to every checkout.
PING_IDLE_SECONDS = 1.0
# Database.call_waiting's retries while the SQLite write lock is busy. A worker's
# write holds it for 0.5-3 ms; steps of up to 4 ms overshot its end by as much
# (a batch's wait, p99: 10-13 ms against 8 ms with 1 ms steps; decision 0013, 29).
BUSY_RETRY_FIRST_SECONDS = 0.0005
BUSY_RETRY_MAX_SECONDS = 0.001
# Set while Database.call runs work inline on the event loop (see write()).
_inline = threading.local()


class WriteBusy(Exception):
    """The write lock is taken and this caller must not wait for it here."""


class NeedsThread(BaseException):
    """Work running inline on the event loop asked for a PostgreSQL connection.

    A BaseException so that no ``except Exception`` on the way swallows it:
    ``Database.call`` catches it and reruns the work in the thread pool.
    """


class ConnectionNeeded(Exception):
    """Work that was given no connection (``None``: answer from caches if you can)
    found it must query after all; its caller opens one and runs it again."""


def needed(connection: Connection | None) -> Connection:
    """``connection``, or ``ConnectionNeeded`` when the caller gave none."""
    if connection is None:
        raise ConnectionNeeded()
    return connection


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        parsed = make_url(url)
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        self._checkpoints: WalCheckpoints | None = None
        if self.is_sqlite:
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
                self._checkpoints = WalCheckpoints(database)
                # A Database dropped without dispose() stops its thread too.
                weakref.finalize(self, self._checkpoints.stop)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size)
            # A server that does not answer must not hang a request (issue 10).
            kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        self.engine: Engine = create_engine(url, **kwargs)
        # SQLite has one writer: queue this process's writers on a lock rather than
        # on SQLite's busy handler, which sleeps in coarse steps.
        self._write_lock = threading.Lock() if self.is_sqlite else None
        # SQLite reads run inline on an event loop (``call``): each such thread
        # keeps one connection for them rather than taking one from the pool per
        # read, which cost more than a poll's query (see read_now).
        self._loop_readers = threading.local()
        self._kept: list[Connection] = []
        self._kept_lock = threading.Lock()
        if self.is_sqlite:
            self._configure_sqlite(self.engine, self._checkpoints)
        else:
            self._ping_idle_connections(self.engine)
        # PostgreSQL's hottest reads skip the thread pool (read_by_key).
        self._async_reads = None if self.is_sqlite else AsyncReads(url, size=pool_size)
        # PostgreSQL's group transactions of creates skip it too (write_on_loop).
        self._loop_transactions = None if self.is_sqlite else LoopTransactions(url)

    @staticmethod
    def _configure_sqlite(engine: Engine, checkpoints: WalCheckpoints | None) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let us emit BEGIN ourselves (pysqlite's implicit BEGIN is DEFERRED).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if checkpoints is not None:
                # No commit copies the WAL back into the file: the thread does.
                cursor.execute("PRAGMA wal_autocheckpoint=0")
                checkpoints.start()
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
            if mode is not None:  # None: read_now, each statement on its own
                connection.exec_driver_sql(f"BEGIN {mode}")

    @staticmethod
    def _ping_idle_connections(engine: Engine) -> None:
        @event.listens_for(engine, "checkin")
        def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
            record.info["checked_in_at"] = time.monotonic()

        @event.listens_for(engine, "checkout")
        def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            idle_since = record.info.get("checked_in_at")
            if idle_since is None or time.monotonic() - idle_since <= PING_IDLE_SECONDS:
                return
            try:
                dbapi_connection.execute("SELECT 1")
                dbapi_connection.rollback()
            except Exception as exc:
                # The pool discards this connection and checks out another.
                raise DisconnectionError() from exc

    def _check_inline(self) -> None:
        if getattr(_inline, "no_io", False):
            raise NeedsThread()

    @contextmanager
    def write(self, *, wait: bool | None = None) -> Iterator[Connection]:
        """A transaction that will write: committed on success, rolled back on error.

        With ``wait=False``, and always inside ``call`` on the event loop, it never
        waits: if the SQLite write lock is taken (by this process or another) it
        raises ``WriteBusy`` at once.
        """
        self._check_inline()
        nonblocking = (not wait) if wait is not None else getattr(_inline, "active", False)
        if self._write_lock is None:
            with self._write_transaction(nonblocking=False) as connection:
                yield connection
            return
        if not self._write_lock.acquire(blocking=not nonblocking):
            raise WriteBusy()
        try:
            with self._write_transaction(nonblocking=nonblocking) as connection:
                yield connection
        finally:
            self._write_lock.release()

    @contextmanager
    def _write_transaction(self, *, nonblocking: bool) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            if not self.is_sqlite:
                with connection.begin():
                    yield connection
                return
            raw = connection.connection.dbapi_connection
            assert raw is not None
            connection = connection.execution_options(sqlite_begin="IMMEDIATE")
            if nonblocking:
                raw.execute("PRAGMA busy_timeout=0")
            try:
                try:
                    transaction = connection.begin()
                except OperationalError as exc:
                    if nonblocking and "locked" in str(exc.orig):
                        raise WriteBusy() from exc
                    raise
                with transaction:
                    yield connection
            finally:
                if nonblocking:
                    raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    @contextmanager
    def write_one(self) -> Iterator[Connection]:
        """For a single write statement, which is atomic by itself: on PostgreSQL it
        runs in autocommit (one round trip instead of BEGIN, the statement and
        COMMIT); SQLite takes its write lock as ``write`` does."""
        if self.is_sqlite:
            with self.write() as connection:
                yield connection
            return
        self._check_inline()
        with self.engine.connect() as connection:
            yield connection.execution_options(isolation_level="AUTOCOMMIT")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on both backends)."""
        self._check_inline()
        with self.engine.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def read_now(self) -> Iterator[Connection]:
        """Reads without a transaction around them: each statement sees what is
        committed when it runs. No BEGIN and COMMIT, so on PostgreSQL one round trip
        per statement; for reads that need no snapshot across statements (polls)."""
        self._check_inline()
        if self.is_sqlite and getattr(_inline, "active", False):
            kept = self._loop_reader()
            try:
                yield kept
            finally:
                kept.rollback()  # ends SQLAlchemy's implicit "begin" (no SQL)
            return
        with self.engine.connect() as connection:
            if self.is_sqlite:
                # The driver is in autocommit mode (see _configure_sqlite) and no
                # BEGIN is sent: each statement is its own transaction.
                yield connection.execution_options(sqlite_begin=None)
                connection.rollback()  # ends SQLAlchemy's implicit "begin" (no SQL)
            else:
                yield connection.execution_options(isolation_level="AUTOCOMMIT")

    def _loop_reader(self) -> Connection:
        """This thread's kept SQLite connection for ``read_now`` (made on first use)."""
        connection: Connection | None = getattr(self._loop_readers, "connection", None)
        if connection is None or connection.closed:
            connection = self.engine.connect().execution_options(sqlite_begin=None)
            self._loop_readers.connection = connection
            with self._kept_lock:
                self._kept.append(connection)
        return connection

    @contextmanager
    def _inline_attempt(self) -> Iterator[None]:
        """Run the body as work on the event loop: SQLite must not wait for the
        write lock (``WriteBusy``), PostgreSQL must not open a connection
        (``NeedsThread``). That exception is swallowed, so the code after the
        ``with`` runs the work elsewhere."""
        flag, rerun = ("active", WriteBusy) if self.is_sqlite else ("no_io", NeedsThread)
        setattr(_inline, flag, True)
        try:
            yield
        except rerun:
            pass
        finally:
            setattr(_inline, flag, False)

    async def call(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking database work from async code.

        A local SQLite file answers in tens of microseconds, less than a thread
        hand-off costs, so its work runs inline on the event loop, but without
        ever waiting for the write lock: when another writer holds it, the work
        is rerun in the thread pool, where waiting stalls nobody. ``function``
        must therefore be safe to rerun when it raised ``WriteBusy`` (its writes
        are transactions that did not start). PostgreSQL round trips always go to
        the thread pool, but work that needs none (a cached key, a finished task
        from the cache) runs inline too: it is started on the event loop and, at
        the first connection it asks for, stopped (``NeedsThread``) and rerun in
        the thread pool, so it must be safe to rerun from its start up to its
        first database call.
        """
        with self._inline_attempt():
            return function(*args, **kwargs)
        return await run_in_threadpool(function, *args, **kwargs)

    async def call_waiting(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``call`` for write work that would rather wait on the event loop.

        On SQLite, when the write lock is busy (usually a worker process's claim
        or heartbeat, a few milliseconds), the work is retried inline after short
        asynchronous sleeps instead of going to the thread pool, where SQLite's
        own busy handler sleeps in steps of up to 100 ms. Other requests are
        served meanwhile. After the busy timeout it falls back to ``call``.
        """
        if self.is_sqlite:
            deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
            delay = BUSY_RETRY_FIRST_SECONDS
            while time.monotonic() < deadline:
                with self._inline_attempt():
                    return function(*args, **kwargs)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BUSY_RETRY_MAX_SECONDS)
        return await self.call(function, *args, **kwargs)

    async def read_by_key(self, keyed: KeyedRead, key: Any) -> PreparedRow | None:
        """``keyed``'s row for ``key`` (None: there is none), without a transaction,
        from async code.

        SQLite answers inline on this thread's kept connection (``read_now``);
        PostgreSQL is awaited on the event loop (db/async_reads.py), in one statement
        with the other keys of ``keyed`` asked for at the same time, instead of a
        round trip through the thread pool.
        """
        if self._async_reads is None:
            return await self.call(self._read_by_key_now, keyed, key)
        return await self._async_reads.by_key(keyed, key)

    def _read_by_key_now(self, keyed: KeyedRead, key: Any) -> PreparedRow | None:
        with self.read_now() as connection:
            return keyed.single.first(connection, {"key": key})

    def write_on_loop(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """A PostgreSQL write transaction awaited on the event loop, on asyncpg
        (db/loop_transactions.py): committed when the body returns, rolled back
        when it raises. SQLite has none: its writes run inline already (``call``)."""
        if self._loop_transactions is None:
            raise RuntimeError("write_on_loop is PostgreSQL's; SQLite writes inline (call)")
        return self._loop_transactions.transaction()

    def autocommit_on_loop(self) -> AbstractAsyncContextManager[asyncpg.Connection]:
        """PostgreSQL's kept event-loop connection outside a transaction: each
        statement commits as it ends (db/loop_transactions.py). SQLite has none."""
        if self._loop_transactions is None:
            raise RuntimeError("autocommit_on_loop is PostgreSQL's; SQLite writes inline (call)")
        return self._loop_transactions.autocommit()

    async def close_async(self) -> None:
        """Close what ``read_by_key`` and ``write_on_loop`` opened on this event
        loop (before ``dispose``)."""
        if self._async_reads is not None:
            await self._async_reads.close()
        if self._loop_transactions is not None:
            await self._loop_transactions.close()

    def lock_clause_supported(self) -> bool:
        """Whether SELECT ... FOR UPDATE [SKIP LOCKED] means anything here."""
        return not self.is_sqlite

    def dispose(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.stop()
        with self._kept_lock:
            kept, self._kept = self._kept, []
        for connection in kept:
            connection.close()
        self.engine.dispose()
