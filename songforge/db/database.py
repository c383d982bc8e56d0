"""Connections: one SQLAlchemy engine, with read and write transactions.

SQLite runs in WAL mode so readers never wait for the writer, and every write
transaction starts with ``BEGIN IMMEDIATE``: taking the write lock up front
means two processes never deadlock upgrading a read lock, they queue on the
busy timeout instead. PostgreSQL needs neither trick.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        parsed = make_url(url)
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: Engine = create_engine(url, **kwargs)
        # SQLite has one writer: queue this process's writers on a lock rather than
        # on SQLite's busy handler, which sleeps in coarse steps.
        self._write_lock = threading.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            self._configure_sqlite(self.engine)

    @staticmethod
    def _configure_sqlite(engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let us emit BEGIN ourselves (pysqlite's implicit BEGIN is DEFERRED).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
            connection.exec_driver_sql(f"BEGIN {mode}")

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that will write: committed on success, rolled back on error."""
        if self._write_lock is not None:
            with self._write_lock, self._write_transaction() as connection:
                yield connection
        else:
            with self._write_transaction() as connection:
                yield connection

    @contextmanager
    def _write_transaction(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            if self.is_sqlite:
                connection = connection.execution_options(sqlite_begin="IMMEDIATE")
            with connection.begin():
                yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (a consistent snapshot on both backends)."""
        with self.engine.connect() as connection, connection.begin():
            yield connection

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """Run blocking database work from async code.

        A local SQLite file answers in tens of microseconds, less than a thread
        hand-off costs, so its work runs inline; a networked PostgreSQL
        round-trip goes to the thread pool so the event loop keeps serving.
        """
        if self.is_sqlite:
            return function(*args)
        return await run_in_threadpool(function, *args)

    def lock_clause_supported(self) -> bool:
        """Whether SELECT ... FOR UPDATE [SKIP LOCKED] means anything here."""
        return not self.is_sqlite

    def dispose(self) -> None:
        self.engine.dispose()


def single_use_engine(url: str) -> Engine:
    """An engine without a pool, for one-off admin work (migrations, CLI)."""
    return create_engine(url, poolclass=NullPool)
