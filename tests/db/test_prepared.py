"""PreparedRead gives the same row as SQLAlchemy's own execution, on both backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, bindparam, func, select

from songforge.db.database import Database
from songforge.db.keyed_read import KeyedRead
from songforge.db.prepared import PreparedRead, PreparedRow
from songforge.db.types import UTCDateTime
from songforge.services.task_records import TaskStatus

MOMENT = datetime(2026, 11, 29, 12, 30, 15, 123000, tzinfo=UTC)


@pytest.fixture
def table(database_url: str) -> Iterator[tuple[Database, Table]]:
    db = Database(database_url)
    metadata = MetaData()
    things = Table(
        f"prepared_{uuid.uuid4().hex[:8]}",
        metadata,
        Column("id", String(16), primary_key=True),
        Column("status", String(16), nullable=False),
        Column("size", Integer, nullable=False),
        Column("at", UTCDateTime, nullable=True),
        Column("facts", JSON, nullable=True),
    )
    metadata.create_all(db.engine)
    with db.write() as conn:
        conn.execute(
            things.insert(),
            [
                {"id": "a", "status": "in_progress", "size": 3, "at": MOMENT, "facts": {"k": [1]}},
                {"id": "b", "status": "completed", "size": 5, "at": None, "facts": None},
            ],
        )
    yield db, things
    metadata.drop_all(db.engine)
    db.dispose()


def test_rows_match_sqlalchemys_with_types_decoded(table: tuple[Database, Table]) -> None:
    db, things = table
    # A bound constant (an enum, as the queue's statements have), a bound name and
    # a scalar subquery with its own type.
    statement = select(
        things,
        select(func.max(things.c.at)).scalar_subquery().label("latest"),
    ).where(things.c.id == bindparam("id"), things.c.status != TaskStatus.FAILED)
    prepared = PreparedRead(statement)
    with db.read_now() as conn:
        for key in ("a", "b"):
            expected = conn.execute(statement, {"id": key}).first()
            row = prepared.first(conn, {"id": key})
            assert expected is not None and row is not None
            assert row._mapping == dict(expected._mapping)
        assert prepared.first(conn, {"id": "missing"}) is None
    kept = _first(db, prepared, "a")
    assert kept.at == MOMENT and kept.at.tzinfo is not None
    assert kept.facts == {"k": [1]} and kept.latest == MOMENT and kept.size == 3


def _first(db: Database, prepared: PreparedRead, key: str) -> PreparedRow:
    with db.read_now() as conn:
        row = prepared.first(conn, {"id": key})
    assert row is not None
    return row


def test_a_remembered_row_is_decoded_once_until_it_changes(table: tuple[Database, Table]) -> None:
    db, things = table
    statement = select(things).where(things.c.id == bindparam("id"))
    remembering = PreparedRead(statement, remember=2)
    with db.read_now() as conn:
        first = remembering.first(conn, {"id": "a"})
        again = remembering.first(conn, {"id": "a"})
        assert first is not None and again is not None
        assert first._mapping == PreparedRead(statement).first(conn, {"id": "a"})._mapping  # type: ignore[union-attr]
        if db.is_sqlite:
            # The driver's values are all hashable: the same row object comes back,
            # with what a caller built from it.
            first.built = "record"
            assert again is first and again.built == "record"
        else:
            # psycopg gives the JSON column as a dict: decoded each time, never shared.
            assert again is not first and again.built is None
    with db.write() as conn:
        conn.execute(things.update().where(things.c.id == "a").values(size=4))
    with db.read_now() as conn:
        changed = remembering.first(conn, {"id": "a"})
        assert changed is not None and changed is not first
        assert changed.size == 4 and changed.built is None
        # Bounded: past its size the memory starts again rather than growing.
        for key in ("a", "b", "a", "b"):
            remembering.first(conn, {"id": key})
        assert len(remembering._remembered) <= 2


def test_the_event_loop_read_decodes_and_remembers_rows_on_both_backends(
    table: tuple[Database, Table],
) -> None:
    # Database.read_by_key: SQLite inline, PostgreSQL on asyncpg (db/async_reads.py),
    # whose JSON arrives as text, so its rows too can be remembered.
    db, things = table
    statement = select(things).where(things.c.id == bindparam("id"))
    remembering = KeyedRead(select(things), things.c.id, remember=4)

    async def read(key: str) -> PreparedRow | None:
        return await db.read_by_key(remembering, key)

    async def go() -> list[PreparedRow | None]:
        try:
            return [await read("a"), await read("a"), await read("b"), await read("missing")]
        finally:
            await db.close_async()

    first, again, other, missing = asyncio.run(go())
    with db.read_now() as conn:
        expected = {key: dict(conn.execute(statement, {"id": key}).one()._mapping) for key in "ab"}
    assert first is not None and other is not None and missing is None
    assert first._mapping == expected["a"] and other._mapping == expected["b"]
    assert first.facts == {"k": [1]} and first.at == MOMENT and first.at.tzinfo is not None
    assert other.facts is None and other.at is None
    assert again is first
