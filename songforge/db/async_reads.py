"""PostgreSQL reads from the event loop itself, on asyncpg.

Blocking database work reaches PostgreSQL from the thread pool (``Database.call``);
for a poll that is one short read, and handing it to a thread and back cost more
than the read (the wake-up and the GIL passing between threads, ~0.3 ms of the
loop's time per request, measured in-process). This pool keeps up to ``size``
connections (the Database's pool size), so a read is one round trip awaited on the
loop. A poll reads by key (db/keyed_read.py): the polls waiting at the same time are
one statement (``by_key``), since a query's cost is mostly per statement.

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
from functools import partial
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from songforge.db.keyed_read import KeyedRead
from songforge.db.prepared import PreparedRead, PreparedRow

CONNECT_TIMEOUT_SECONDS = 5

# The errors of a server that is away or a connection that broke: the read is
# answered 503 (api/error_handlers.py), or retried on another pooled connection.
CONNECTION_LOST = (
    OSError,  # refused, reset, no route
    TimeoutError,  # connect_timeout ran out
    asyncpg.InterfaceError,  # "connection is closed" (but see connection_lost)
    asyncpg.PostgresConnectionError,  # SQLSTATE 08: connection exceptions
    asyncpg.CannotConnectNowError,  # 57P03: starting up or in recovery
    asyncpg.AdminShutdownError,  # 57P01: the server is shutting down
)


# Every error the driver raises: the lost connections and the server's refusals.
DRIVER_ERRORS = (*CONNECTION_LOST, asyncpg.PostgresError)


def connection_lost(error: BaseException) -> bool:
    # asyncpg's DataError (arguments of the wrong type) is an InterfaceError too,
    # but it is our bug, not an outage.
    return isinstance(error, CONNECTION_LOST) and not isinstance(error, asyncpg.DataError)


class _LoopPool:
    def __init__(self, size: int) -> None:
        self.idle: list[asyncpg.Connection] = []
        self.slots = asyncio.Semaphore(size)
        # Keyed reads waiting for their statement: per read, key -> its callers.
        self.waiting: dict[KeyedRead, dict[Any, list[asyncio.Future[PreparedRow | None]]]] = {}
        # Kept: the loop holds only a weak reference to its tasks.
        self.drains: set[asyncio.Task[None]] = set()


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


def asyncpg_target(url: str) -> tuple[str, float]:
    """SQLAlchemy's ``url`` as asyncpg's DSN, and its connect timeout in seconds."""
    parsed = make_url(url)
    timeout = parsed.query.get("connect_timeout")
    dsn = (
        parsed.set(drivername="postgresql")
        .difference_update_query(_LIBPQ_ONLY)
        .render_as_string(hide_password=False)
    )
    return dsn, float(str(timeout)) if timeout else CONNECT_TIMEOUT_SECONDS


class AsyncReads:
    def __init__(self, url: str, *, size: int = 10) -> None:
        self._dsn, self._timeout = asyncpg_target(url)
        self._dialect = asyncpg_dialect()  # type: ignore[no-untyped-call]
        self._size = size
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPool] = (
            weakref.WeakKeyDictionary()
        )

    def _pool(self) -> _LoopPool:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = _LoopPool(self._size)
        return pool

    async def by_key(self, keyed: KeyedRead, key: Any) -> PreparedRow | None:
        """``keyed``'s row for ``key`` (None: there is none), read on this loop in
        one statement with every other key of ``keyed`` asked for meanwhile.

        The first caller schedules the statement; the callers that come before it
        starts (the rest of this turn of the loop, or while every pooled
        connection is busy) join it. An error fails every caller of the statement.
        """
        pool = self._pool()
        future: asyncio.Future[PreparedRow | None] = asyncio.get_running_loop().create_future()
        waiting = pool.waiting.get(keyed)
        if waiting is None:
            waiting = pool.waiting[keyed] = {}
            drain = asyncio.get_running_loop().create_task(self._read_waiting(pool, keyed))
            pool.drains.add(drain)
            drain.add_done_callback(partial(_drained, pool, keyed, waiting))
        waiting.setdefault(key, []).append(future)
        return await future

    async def _read_waiting(self, pool: _LoopPool, keyed: KeyedRead) -> None:
        # Let the requests already read in this turn of the loop join (as
        # db/group_commit.py does for writes).
        await asyncio.sleep(0)
        async with pool.slots:
            waiting = pool.waiting.pop(keyed)
            try:
                rows = await self._fetch_holding_slot(pool, keyed.many, {"keys": list(waiting)})
            except BaseException as exc:
                for futures in waiting.values():
                    for future in futures:
                        _fail(future, exc)
                if not isinstance(exc, Exception):
                    raise
                return
        found = {keyed.key_of(row): row for row in rows}
        for key, futures in waiting.items():
            for future in futures:
                if not future.done():  # else its caller went away
                    future.set_result(found.get(key))

    async def _fetch_holding_slot(
        self, pool: _LoopPool, prepared: PreparedRead, parameters: Mapping[str, Any]
    ) -> list[PreparedRow]:
        sql, bound = prepared.bound(self._dialect, parameters)
        while True:
            pooled = bool(pool.idle)
            try:
                connection = pool.idle.pop() if pooled else await self._connect()
            except DRIVER_ERRORS as exc:
                # Whatever keeps a connection from being made (refused, a missing
                # database, too many clients) leaves the database out of reach: 503,
                # as psycopg's connect errors are answered on the other paths.
                raise OperationalError(sql, bound, exc, connection_invalidated=True) from exc
            try:
                rows = await connection.fetch(sql, *bound)
            except BaseException as exc:
                await close_quietly(connection)
                if not isinstance(exc, DRIVER_ERRORS):
                    raise
                if pooled and connection_lost(exc):
                    continue  # the server dropped an idle connection: try another
                raise as_sqlalchemy_error(sql, bound, exc) from exc
            pool.idle.append(connection)
            return [prepared.decode(self._dialect, tuple(row)) for row in rows]

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self._dsn, timeout=self._timeout)

    async def close(self) -> None:
        """Close this loop's idle connections (an app's shutdown)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            for connection in pool.idle:
                await close_quietly(connection)


def _drained(
    pool: _LoopPool,
    keyed: KeyedRead,
    waiting: dict[Any, list[asyncio.Future[PreparedRow | None]]],
    drain: asyncio.Task[None],
) -> None:
    pool.drains.discard(drain)
    # A statement cancelled before it took its callers (the loop shutting down; a
    # task cancelled before its first step never runs its body) leaves none of them
    # waiting, and the next read of ``keyed`` schedules a statement of its own.
    if pool.waiting.get(keyed) is waiting:
        del pool.waiting[keyed]
        for futures in waiting.values():
            for future in futures:
                _fail(future, asyncio.CancelledError())


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if future.done():
        return
    if isinstance(error, asyncio.CancelledError):
        future.cancel()
    else:
        future.set_exception(error)


def as_sqlalchemy_error(sql: str, bound: Any, error: BaseException) -> DBAPIError:
    """The driver's error as SQLAlchemy raises psycopg's from the synchronous paths,
    so the API answers it the same way: a lost server 503, a bad statement 500."""
    if connection_lost(error):
        return OperationalError(sql, bound, error, connection_invalidated=True)
    return DBAPIError(sql, bound, error)


async def close_quietly(connection: asyncpg.Connection) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection: nothing to save
        await connection.close(timeout=1)
