"""PostgreSQL reads from the event loop itself, on asyncpg.

Blocking database work reaches PostgreSQL from the thread pool (``Database.call``);
for a poll that is one short read, and handing it to a thread and back cost more
than the read (the wake-up and the GIL passing between threads, ~0.3 ms of the
loop's time per request, measured in-process). This pool keeps up to ``size``
connections (the Database's pool size), so a read is one round trip awaited on the
loop.

Why asyncpg here while SQLAlchemy runs on psycopg everywhere else: the poll is the
hottest request there is, and per query asyncpg spends about a quarter of the CPU
psycopg's async driver does (46 against 170 µs at 16 concurrent reads, measured in
docs/benchmarks.md, session 7). The statement is still SQLAlchemy's, compiled once
for asyncpg's dialect (db/prepared.py). asyncpg hands json columns back as text
(SQLAlchemy's own asyncpg connections install a decoder; these do not), so a row is
hashable and PreparedRead can remember it; JSON is decoded when a row is first seen.

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

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from songforge.db.prepared import PreparedRead, PreparedRow

CONNECT_TIMEOUT_SECONDS = 5

# The errors of a server that is away or a connection that broke: the read is
# answered 503 (api/error_handlers.py), or retried on another pooled connection.
_CONNECTION_LOST = (
    OSError,  # refused, reset, no route
    TimeoutError,  # connect_timeout ran out
    asyncpg.InterfaceError,  # "connection is closed" (but see _connection_lost)
    asyncpg.PostgresConnectionError,  # SQLSTATE 08: connection exceptions
    asyncpg.CannotConnectNowError,  # 57P03: starting up or in recovery
    asyncpg.AdminShutdownError,  # 57P01: the server is shutting down
)


def _connection_lost(error: BaseException) -> bool:
    # asyncpg's DataError (arguments of the wrong type) is an InterfaceError too,
    # but it is our bug, not an outage.
    return isinstance(error, _CONNECTION_LOST) and not isinstance(error, asyncpg.DataError)


class _LoopPool:
    def __init__(self, size: int) -> None:
        self.idle: list[asyncpg.Connection] = []
        self.slots = asyncio.Semaphore(size)


# libpq's client-side options that a psycopg URL may carry and asyncpg does not know:
# asyncpg would send them to the server as settings, which refuses them.
# connect_timeout is read as asyncpg's own timeout.
_LIBPQ_ONLY = (
    "connect_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "gssencmode",
    "channel_binding",
    "client_encoding",
)


class AsyncReads:
    def __init__(self, url: str, *, size: int = 10) -> None:
        parsed = make_url(url)
        timeout = parsed.query.get("connect_timeout")
        self._timeout = float(str(timeout)) if timeout else CONNECT_TIMEOUT_SECONDS
        self._dsn = (
            parsed.set(drivername="postgresql")
            .difference_update_query(_LIBPQ_ONLY)
            .render_as_string(hide_password=False)
        )
        self._dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]
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
                except (*_CONNECTION_LOST, asyncpg.PostgresError) as exc:
                    # Whatever keeps a connection from being made (refused, a missing
                    # database, too many clients) leaves the database out of reach: 503,
                    # as psycopg's connect errors are answered on the other paths.
                    raise OperationalError(sql, bound, exc, connection_invalidated=True) from exc
                try:
                    row = await connection.fetchrow(sql, *bound)
                except BaseException as exc:
                    await _close_quietly(connection)
                    if not isinstance(exc, (*_CONNECTION_LOST, asyncpg.PostgresError)):
                        raise
                    if pooled and _connection_lost(exc):
                        continue  # the server dropped an idle connection: try another
                    raise _as_sqlalchemy_error(sql, bound, exc) from exc
                pool.idle.append(connection)
                return prepared.decode(self._dialect, tuple(row)) if row is not None else None

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self._dsn, timeout=self._timeout)

    async def close(self) -> None:
        """Close this loop's idle connections (an app's shutdown)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            for connection in pool.idle:
                await _close_quietly(connection)


def _as_sqlalchemy_error(sql: str, bound: Any, error: BaseException) -> DBAPIError:
    """The driver's error as SQLAlchemy raises psycopg's from the synchronous paths,
    so the API answers it the same way: a lost server 503, a bad statement 500."""
    if _connection_lost(error):
        return OperationalError(sql, bound, error, connection_invalidated=True)
    return DBAPIError(sql, bound, error)


async def _close_quietly(connection: asyncpg.Connection) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection: nothing to save
        await connection.close(timeout=1)
