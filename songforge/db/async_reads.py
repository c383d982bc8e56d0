"""PostgreSQL reads from the event loop itself, on psycopg's async driver.

Blocking database work reaches PostgreSQL from the thread pool (``Database.call``);
for a poll that is one short read, and handing it to a thread and back cost more
than the read (the wake-up and the GIL passing between threads, ~0.3 ms of the
loop's time per request, measured in-process). This pool keeps up to ``size``
async connections (the Database's pool size) in autocommit mode, so a read is one
round trip awaited on the loop.

Connections belong to the event loop that opened them; the pool is per loop (an
app has one; tests start several). A pooled connection the server closed (a restart)
is dropped and the read is tried on the next one. The driver's errors are raised as
SQLAlchemy's, as on the synchronous paths, so an outage answers 503 the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Mapping
from typing import Any

import psycopg
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, StatementError

from songforge.db.prepared import PreparedRead, PreparedRow

CONNECT_TIMEOUT_SECONDS = 5


class _LoopPool:
    def __init__(self, size: int) -> None:
        self.idle: list[psycopg.AsyncConnection[Any]] = []
        self.slots = asyncio.Semaphore(size)


class AsyncReads:
    def __init__(self, url: str, dialect: Dialect, *, size: int = 10) -> None:
        parsed = make_url(url)
        self._conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self._dialect = dialect
        self._size = size
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = (
            weakref.WeakKeyDictionary()
        )

    async def first(
        self, prepared: PreparedRead, parameters: Mapping[str, Any]
    ) -> PreparedRow | None:
        """The first row of ``prepared`` for ``parameters``, read on this loop."""
        sql, bound = prepared.bound(self._dialect, parameters)
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = _LoopPool(self._size)
        async with pool.slots:
            while True:
                pooled = bool(pool.idle)
                try:
                    connection = pool.idle.pop() if pooled else await self._connect()
                except psycopg.Error as exc:
                    raise _as_sqlalchemy_error(sql, bound, exc, self._dialect) from exc
                try:
                    async with connection.cursor() as cursor:
                        await cursor.execute(sql, bound)
                        row = await cursor.fetchone()
                except BaseException as exc:
                    await _close_quietly(connection)
                    if not isinstance(exc, psycopg.Error):
                        raise
                    if pooled and connection.broken:
                        continue  # the server dropped an idle connection: try another
                    raise _as_sqlalchemy_error(sql, bound, exc, self._dialect) from exc
                pool.idle.append(connection)
                return prepared.decode(self._dialect, row) if row is not None else None

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(
            self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
        )

    async def close(self) -> None:
        """Close this loop's idle connections (an app's shutdown)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            for connection in pool.idle:
                await _close_quietly(connection)


def _as_sqlalchemy_error(
    sql: str, bound: Any, error: psycopg.Error, dialect: Dialect
) -> StatementError:
    """The driver's error as SQLAlchemy raises it from the synchronous paths, so the
    API answers a database outage the same way (503, api/error_handlers.py)."""
    return DBAPIError.instance(
        sql,
        bound,
        error,
        psycopg.Error,
        connection_invalidated=isinstance(error, psycopg.OperationalError),
        dialect=dialect,
    )


async def _close_quietly(connection: psycopg.AsyncConnection[Any]) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection: nothing to save
        await connection.close()
