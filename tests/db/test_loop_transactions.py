"""PostgreSQL write transactions awaited on the event loop (asyncpg,
db/loop_transactions.py): committed or rolled back as the body ends, one
connection kept per loop and replaced when the server dropped it, the driver's
errors raised as SQLAlchemy's."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from songforge.db.database import Database
from songforge.db.loop_transactions import LoopTransactions

pytestmark = pytest.mark.postgres


class Refused(Exception):
    pass


@pytest.fixture
def notes(postgres_url: str) -> Iterator[str]:
    db = Database(postgres_url)
    name = f"loop_notes_{uuid.uuid4().hex[:8]}"
    with db.write() as conn:
        conn.exec_driver_sql(f"CREATE TABLE {name} (id text PRIMARY KEY)")
    yield name
    with db.write() as conn:
        conn.exec_driver_sql(f"DROP TABLE {name}")
    db.dispose()


def _stored(postgres_url: str, table: str) -> list[str]:
    # Another engine: what other processes see, i.e. what was committed.
    engine = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        return sorted(conn.exec_driver_sql(f"SELECT id FROM {table}").scalars())


async def _terminate(postgres_url: str, backend: int) -> None:
    """End one server connection, as a server restart does for it."""
    admin = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(backend)})")
    admin.dispose()
    await asyncio.sleep(0.1)


def test_the_body_is_committed_or_rolled_back_on_one_kept_connection(
    postgres_url: str, notes: str
) -> None:
    transactions = LoopTransactions(postgres_url)

    async def go() -> list[int]:
        backends = []
        try:
            async with transactions.transaction() as connection:
                await connection.execute(f"INSERT INTO {notes} VALUES ($1)", "kept")
                backends.append(await connection.fetchval("SELECT pg_backend_pid()"))
            with pytest.raises(Refused):
                async with transactions.transaction() as connection:
                    await connection.execute(f"INSERT INTO {notes} VALUES ($1)", "refused")
                    backends.append(await connection.fetchval("SELECT pg_backend_pid()"))
                    raise Refused()
            # A statement the server refuses rolls back too; the connection stays.
            with pytest.raises(DBAPIError) as bad:
                async with transactions.transaction() as connection:
                    await connection.execute(f"INSERT INTO {notes} VALUES ($1)", "half")
                    backends.append(await connection.fetchval("SELECT pg_backend_pid()"))
                    await connection.execute(f"INSERT INTO {notes} VALUES ($1)", "kept")
            assert not isinstance(bad.value, OperationalError)
            async with transactions.transaction() as connection:
                backends.append(await connection.fetchval("SELECT pg_backend_pid()"))
        finally:
            await transactions.close()
        return backends

    backends = asyncio.run(go())
    assert _stored(postgres_url, notes) == ["kept"]
    assert len(set(backends)) == 1  # one connection, kept between transactions


def test_a_kept_connection_the_server_dropped_is_replaced_before_the_body_runs(
    postgres_url: str, notes: str
) -> None:
    transactions = LoopTransactions(postgres_url)

    async def go() -> tuple[int, int]:
        try:
            async with transactions.transaction() as connection:
                first = await connection.fetchval("SELECT pg_backend_pid()")
            await _terminate(postgres_url, first)
            async with transactions.transaction() as connection:
                await connection.execute(f"INSERT INTO {notes} VALUES ($1)", "after")
                second = await connection.fetchval("SELECT pg_backend_pid()")
        finally:
            await transactions.close()
        return int(first), int(second)

    first, second = asyncio.run(go())
    assert first != second
    assert _stored(postgres_url, notes) == ["after"]


def test_outside_a_transaction_each_statement_commits_on_the_same_kept_connection(
    postgres_url: str, notes: str
) -> None:
    transactions = LoopTransactions(postgres_url)

    async def go() -> tuple[list[int], list[str]]:
        backends = []
        try:
            async with transactions.autocommit() as connection:
                await connection.execute(f"INSERT INTO {notes} VALUES ($1)", "first")
                backends.append(await connection.fetchval("SELECT pg_backend_pid()"))
                seen = _stored(postgres_url, notes)  # committed before the block ends
            # A refused statement leaves what came before it, and the connection.
            with pytest.raises(DBAPIError) as bad:
                async with transactions.autocommit() as connection:
                    await connection.execute(f"INSERT INTO {notes} VALUES ($1)", "second")
                    await connection.execute(f"INSERT INTO {notes} VALUES ($1)", "first")
            assert not isinstance(bad.value, OperationalError)
            async with transactions.autocommit() as connection:
                backends.append(await connection.fetchval("SELECT pg_backend_pid()"))
            async with transactions.transaction() as connection:  # the same one
                backends.append(await connection.fetchval("SELECT pg_backend_pid()"))
        finally:
            await transactions.close()
        return backends, seen

    backends, seen = asyncio.run(go())
    assert seen == ["first"]
    assert _stored(postgres_url, notes) == ["first", "second"]
    assert len(set(backends)) == 1


def test_outside_a_transaction_a_dropped_connection_is_replaced_and_a_lost_one_not_retried(
    postgres_url: str, notes: str
) -> None:
    transactions = LoopTransactions(postgres_url)

    async def go() -> tuple[int, int, int]:
        try:
            async with transactions.autocommit() as connection:
                first = await connection.fetchval("SELECT pg_backend_pid()")
            # Dropped while idle (a restart): replaced before anything is sent.
            await _terminate(postgres_url, first)
            async with transactions.autocommit() as connection:
                await connection.execute(f"INSERT INTO {notes} VALUES ($1)", "after")
                second = await connection.fetchval("SELECT pg_backend_pid()")
            # Lost during a statement, which may have been applied before its
            # answer was lost: only the caller can ask, so it gets the outage,
            # not a second attempt.
            with pytest.raises(OperationalError) as lost:
                async with transactions.autocommit() as connection:
                    await connection.execute(
                        f"INSERT INTO {notes} SELECT 'lost' FROM pg_terminate_backend($1)",
                        second,
                    )
            assert lost.value.connection_invalidated
            async with transactions.autocommit() as connection:
                third = await connection.fetchval("SELECT pg_backend_pid()")
        finally:
            await transactions.close()
        return int(first), int(second), int(third)

    first, second, third = asyncio.run(go())
    assert len({first, second, third}) == 3
    assert _stored(postgres_url, notes) == ["after"]


def test_an_absent_server_is_an_outage(postgres_url: str) -> None:
    # api/error_handlers.py answers it 503, as psycopg's failed connections.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    away = LoopTransactions(str(make_url(postgres_url).set(host="127.0.0.1", port=closed_port)))

    async def go() -> None:
        async with away.transaction():
            raise AssertionError("no transaction without a server")

    with pytest.raises(OperationalError) as lost:
        asyncio.run(go())
    assert lost.value.connection_invalidated


def test_sqlite_has_no_transactions_on_the_loop(tmp_path: object) -> None:
    db = Database(f"sqlite:///{tmp_path}/songforge.db")
    with pytest.raises(RuntimeError, match="SQLite"):
        db.write_on_loop()
    with pytest.raises(RuntimeError, match="SQLite"):
        db.autocommit_on_loop()
    db.dispose()
