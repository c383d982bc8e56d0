"""PostgreSQL reads awaited on the event loop (asyncpg, db/async_reads.py): keyed
reads waiting together are one statement; a dropped connection is replaced; the
driver's errors come out as SQLAlchemy's."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, MetaData, String, Table, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from songforge.db.async_reads import AsyncReads
from songforge.db.database import Database
from songforge.db.keyed_read import KeyedRead
from songforge.db.prepared import PreparedRow

pytestmark = pytest.mark.postgres


@pytest.fixture
def things(postgres_url: str) -> Iterator[Table]:
    db = Database(postgres_url)
    metadata = MetaData()
    table = Table(
        f"keyed_{uuid.uuid4().hex[:8]}",
        metadata,
        Column("id", String(8), primary_key=True),
        Column("owner", String(16), nullable=False),
    )
    metadata.create_all(db.engine)
    with db.write() as conn:
        conn.execute(table.insert(), [{"id": f"k{i}", "owner": f"o{i}"} for i in range(20)])
        conn.execute(table.insert(), [{"id": "longkey1", "owner": "prefix"}])
    yield table
    metadata.drop_all(db.engine)
    db.dispose()


class CountedReads(AsyncReads):
    """Counts the statements sent (one per round trip)."""

    statements = 0

    async def _fetch_holding_slot(self, *args: Any, **kwargs: Any) -> list[PreparedRow]:
        self.statements += 1
        return await super()._fetch_holding_slot(*args, **kwargs)


def test_keyed_reads_waiting_together_are_one_statement(postgres_url: str, things: Table) -> None:
    reads = CountedReads(postgres_url)
    keyed = KeyedRead(select(things), things.c.id)
    # Twenty callers, one key asked twice, one missing, one longer than the column
    # (a cast to varchar(8) would cut it to a key that exists).
    keys = [f"k{i}" for i in range(17)] + ["k3", "missing", "longkey1-and-more"]

    async def go() -> list[PreparedRow | None]:
        try:
            return await asyncio.gather(*(reads.by_key(keyed, key) for key in keys))
        finally:
            await reads.close()

    rows = asyncio.run(go())
    assert reads.statements == 1
    found = [None if row is None else (row.id, row.owner) for row in rows]
    assert found == [(f"k{i}", f"o{i}") for i in range(17)] + [("k3", "o3"), None, None]


def test_a_failed_statement_fails_each_of_its_reads_and_the_next_ones_are_read(
    postgres_url: str, things: Table
) -> None:
    reads = AsyncReads(postgres_url)
    keyed = KeyedRead(select(things), things.c.id)
    absent = Table("no_such_table", MetaData(), Column("id", String(8), primary_key=True))
    broken = KeyedRead(select(absent), absent.c.id)

    async def go() -> tuple[list[Any], PreparedRow | None]:
        try:
            failed = await asyncio.gather(
                *(reads.by_key(broken, f"k{i}") for i in range(3)), return_exceptions=True
            )
            return failed, await reads.by_key(keyed, "k1")
        finally:
            await reads.close()

    failed, after = asyncio.run(go())
    assert len(failed) == 3 and all(isinstance(error, DBAPIError) for error in failed)
    assert not any(isinstance(error, OperationalError) for error in failed)
    assert after is not None and after.owner == "o1"


def test_a_caller_that_went_away_leaves_the_others_answered(
    postgres_url: str, things: Table
) -> None:
    reads = AsyncReads(postgres_url)
    keyed = KeyedRead(select(things), things.c.id)

    async def go() -> list[PreparedRow | None]:
        try:
            leaving = asyncio.ensure_future(reads.by_key(keyed, "k1"))
            staying = [asyncio.ensure_future(reads.by_key(keyed, f"k{i}")) for i in (1, 2)]
            await asyncio.sleep(0)
            leaving.cancel()
            return list(await asyncio.gather(*staying))
        finally:
            await reads.close()

    rows = asyncio.run(go())
    assert [row.owner if row is not None else None for row in rows] == ["o1", "o2"]


def test_a_statement_cancelled_before_it_ran_leaves_no_caller_waiting(
    postgres_url: str, things: Table
) -> None:
    reads = AsyncReads(postgres_url)
    keyed = KeyedRead(select(things), things.c.id)

    async def go() -> tuple[list[Any], PreparedRow | None]:
        try:
            callers = [asyncio.ensure_future(reads.by_key(keyed, f"k{i}")) for i in (1, 2)]
            await asyncio.sleep(0)  # the callers are waiting; their statement is scheduled
            for drain in list(reads._pool().drains):
                drain.cancel()
            outcomes = await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), 5)
            return outcomes, await asyncio.wait_for(reads.by_key(keyed, "k3"), 5)
        finally:
            await reads.close()

    outcomes, after = asyncio.run(go())
    assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes)
    assert after is not None and after.owner == "o3"


def test_a_key_read_needs_its_key_column_selected(things: Table) -> None:
    with pytest.raises(ValueError, match="key column"):
        KeyedRead(select(things.c.owner), things.c.id)


def test_a_connection_the_server_dropped_is_replaced(postgres_url: str, things: Table) -> None:
    db = Database(postgres_url)
    reads = AsyncReads(postgres_url)
    backend = KeyedRead(select(things.c.id, func.pg_backend_pid().label("backend")), things.c.id)

    async def go() -> tuple[int, int]:
        try:
            return await kill_and_read()
        finally:
            await reads.close()

    async def kill_and_read() -> tuple[int, int]:
        first = await reads.by_key(backend, "k1")
        assert first is not None
        pid = int(first.backend)
        # A server restart, or an idle timeout, kills the pooled connection.
        with db.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.commit()
        await asyncio.sleep(0.1)
        second = await reads.by_key(backend, "k2")
        assert second is not None and second.id == "k2"
        return pid, int(second.backend)

    before, after = asyncio.run(go())
    assert before != after
    db.dispose()


def test_an_absent_server_is_an_outage_and_a_bad_read_is_a_bug(
    postgres_url: str, things: Table
) -> None:
    # api/error_handlers.py answers the first 503 (a lost connection) and the
    # others 500, as it does psycopg's errors on the synchronous paths.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    away = AsyncReads(str(make_url(postgres_url).set(host="127.0.0.1", port=closed_port)))
    here = AsyncReads(postgres_url)
    keyed = KeyedRead(select(things), things.c.id)
    absent = Table("no_such_table", MetaData(), Column("id", String(8), primary_key=True))
    missing = KeyedRead(select(absent), absent.c.id)

    async def go(reads: AsyncReads, read: KeyedRead, key: Any) -> None:
        try:
            await reads.by_key(read, key)
        finally:
            await reads.close()

    # A server that answers but will not let us in (here: no such database) is
    # out of reach too, as psycopg's failed connections are.
    shut = AsyncReads(str(make_url(postgres_url).set(database="songforge_no_such_database")))
    for reads in (away, shut):
        with pytest.raises(OperationalError) as lost:
            asyncio.run(go(reads, keyed, "k1"))
        assert lost.value.connection_invalidated
    # A missing table, and a key of the wrong type (asyncpg's DataError).
    for read, key in ((missing, "k1"), (keyed, 5)):
        with pytest.raises(DBAPIError) as bug:
            asyncio.run(go(here, read, key))
        assert not isinstance(bug.value, OperationalError)
        assert not bug.value.connection_invalidated


def test_a_url_with_libpq_options_reads_too(postgres_url: str, things: Table) -> None:
    # The URL is psycopg's; asyncpg would pass libpq's client options on to the
    # server as settings, which it refuses. application_name is a server setting.
    url = make_url(postgres_url).update_query_dict(
        {"connect_timeout": "3", "keepalives": "1", "application_name": "songforge-poll"}
    )
    reads = AsyncReads(str(url.render_as_string(hide_password=False)))
    name = KeyedRead(
        select(things.c.id, func.current_setting("application_name").label("name")), things.c.id
    )

    async def go() -> str:
        try:
            row = await reads.by_key(name, "k1")
        finally:
            await reads.close()
        assert row is not None
        return str(row.name)

    assert asyncio.run(go()) == "songforge-poll"
