"""PostgreSQL write transactions awaited on the event loop, on asyncpg.

The create route's group commit (db/group_commit.py) writes a batch in one
transaction of four round trips: BEGIN with the locking read, the write
statement, COMMIT. From the thread pool each of them resumes only when that
thread gets the GIL back from the busy event loop, and the batch's answer
waits for the loop to notice the thread is done: 5-7 ms of a ~18 ms batch
under load (docs/decisions/0013, items 26 and 28). Meanwhile the batch holds its
account's row lock, and every other process's batch for that account waits.
Awaited on the loop, each round trip resumes the batch at the loop's next turn.

A batch that fits its accounts' and keys' figures is written in one statement
instead (``autocommit``: the kept connection outside a transaction, so the
statement commits as it ends): one round trip, and the account's row stays
locked only while the server runs it (decision 0013, item 33).

The group commit runs one transaction at a time per app, so one connection per
event loop is kept. A kept connection the server dropped (a restart) fails at
BEGIN, before anything was sent for the batch: the transaction is begun again
on a new connection. The driver's errors are raised as SQLAlchemy's, as
db/async_reads.py does, so an outage answers 503 the same way.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

import asyncpg
from sqlalchemy.exc import OperationalError

from songforge.db.async_reads import (
    DRIVER_ERRORS,
    as_sqlalchemy_error,
    asyncpg_target,
    close_quietly,
    connection_lost,
)


class LoopTransactions:
    def __init__(self, url: str) -> None:
        self._dsn, self._timeout = asyncpg_target(url)
        self._kept: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncpg.Connection] = (
            weakref.WeakKeyDictionary()
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection in a transaction: committed when the body returns, rolled
        back when it raises (a driver's error raised as SQLAlchemy's)."""
        loop = asyncio.get_running_loop()
        connection, transaction = await self._begin(loop)
        try:
            yield connection
            await transaction.commit()
        except BaseException as exc:
            # A refusal of the body (an Exception not the driver's) leaves the
            # connection fit to keep once rolled back; a lost connection, a
            # cancelled statement or a failed COMMIT does not.
            fit = isinstance(exc, Exception) and not connection_lost(exc)
            if fit:
                try:
                    await transaction.rollback()
                except Exception:
                    fit = False
            await self._let_go(loop, connection, exc, fit=fit)
        await self._keep(loop, connection)

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[asyncpg.Connection]:
        """The kept connection, outside a transaction: each statement commits as it
        ends (a driver's error raised as SQLAlchemy's).

        Nothing is retried here: a statement whose connection was lost may have
        committed, and only the caller can ask what it wrote.
        """
        loop = asyncio.get_running_loop()
        connection, _ = await self._connection(loop)
        try:
            yield connection
        except BaseException as exc:
            fit = isinstance(exc, Exception) and not connection_lost(exc)
            await self._let_go(loop, connection, exc, fit=fit)
        await self._keep(loop, connection)

    async def _let_go(
        self,
        loop: asyncio.AbstractEventLoop,
        connection: asyncpg.Connection,
        error: BaseException,
        *,
        fit: bool,
    ) -> NoReturn:
        """After the body raised: keep ``connection`` when it is ``fit`` for the
        next, else close it; then raise ``error`` (a driver's as SQLAlchemy's)."""
        if fit:
            await self._keep(loop, connection)
        else:
            await close_quietly(connection)
        if isinstance(error, DRIVER_ERRORS):
            raise as_sqlalchemy_error("", (), error) from error
        raise error

    async def _connection(self, loop: asyncio.AbstractEventLoop) -> tuple[asyncpg.Connection, bool]:
        """The loop's kept connection, or a new one; and whether it was kept."""
        kept = self._kept.pop(loop, None)
        if kept is not None and not kept.is_closed():
            return kept, True
        if kept is not None:  # the server dropped it while it was idle (a restart)
            await close_quietly(kept)
        try:
            return await self._connect(), False
        except DRIVER_ERRORS as exc:
            # Whatever keeps a connection from being made leaves the database
            # out of reach: 503, as on the other paths.
            raise OperationalError("", (), exc, connection_invalidated=True) from exc

    async def _begin(
        self, loop: asyncio.AbstractEventLoop
    ) -> tuple[asyncpg.Connection, asyncpg.transaction.Transaction]:
        while True:
            connection, kept = await self._connection(loop)
            try:
                transaction = connection.transaction()
                await transaction.start()
            except BaseException as exc:
                await close_quietly(connection)
                if kept and connection_lost(exc):
                    continue  # the server dropped the kept connection: a new one
                if isinstance(exc, DRIVER_ERRORS):
                    raise as_sqlalchemy_error("BEGIN", (), exc) from exc
                raise
            return connection, transaction

    async def _keep(self, loop: asyncio.AbstractEventLoop, connection: asyncpg.Connection) -> None:
        if loop in self._kept:  # two transactions at once (two group commits): keep one
            await close_quietly(connection)
        else:
            self._kept[loop] = connection

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self._dsn, timeout=self._timeout)

    async def close(self) -> None:
        """Close this loop's kept connection (an app's shutdown)."""
        kept = self._kept.pop(asyncio.get_running_loop(), None)
        if kept is not None:
            await close_quietly(kept)
