"""db/bulk_insert.py: rows written in one statement read back as SQLAlchemy's
executemany would have written them, on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import JSON, BigInteger, Column, Integer, MetaData, String, Table, select

from songforge.db.bulk_insert import insert_rows
from songforge.db.database import Database
from songforge.db.types import UTCDateTime
from songforge.services.task_records import TaskStatus

MOMENT = datetime(2026, 11, 29, 12, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def tables(database_url: str) -> Iterator[tuple[Database, Table, Table]]:
    db = Database(database_url)
    metadata = MetaData()

    def table(suffix: str) -> Table:
        return Table(
            f"bulk_{uuid.uuid4().hex[:8]}_{suffix}",
            metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("name", String(16), nullable=False),
            Column("amount", BigInteger, nullable=False),
            Column("at", UTCDateTime, nullable=True),
            Column("facts", JSON, nullable=True),
        )

    ours, theirs = table("ours"), table("theirs")
    metadata.create_all(db.engine)
    yield db, ours, theirs
    metadata.drop_all(db.engine)
    db.dispose()


ROWS = [
    {
        "name": TaskStatus.IN_PROGRESS,
        "amount": 2**40,
        # Another zone: stored and read back as the same instant, in UTC.
        "at": MOMENT.astimezone(timezone(timedelta(hours=-5))),
        "facts": {
            "prompt": 'It\'s "quoted" \u00e9\u4e2d\U0001f3b5',
            "nested": [1, None, {"k": True}],
        },
    },
    {"name": "plain", "amount": -3, "at": None, "facts": None},
    {"name": "list", "amount": 0, "at": MOMENT, "facts": ["a", 2]},
]


def test_rows_read_back_as_sqlalchemys_own_insert_wrote_them(
    tables: tuple[Database, Table, Table],
) -> None:
    db, ours, theirs = tables
    with db.write() as conn:
        insert_rows(conn, ours, ROWS)
        conn.execute(theirs.insert(), ROWS)
    with db.read() as conn:
        written = [dict(r._mapping) for r in conn.execute(select(ours).order_by(ours.c.id))]
        expected = [dict(r._mapping) for r in conn.execute(select(theirs).order_by(theirs.c.id))]
    assert written == expected
    assert [row["id"] for row in written] == [1, 2, 3]  # the autoincrement id was left alone
    assert written[0]["at"] == MOMENT and written[0]["at"].tzinfo is not None
    assert written[0]["facts"] == ROWS[0]["facts"]


def test_nothing_to_write_writes_nothing_and_a_naive_time_is_refused(
    tables: tuple[Database, Table, Table],
) -> None:
    db, ours, _ = tables
    with db.write() as conn:
        insert_rows(conn, ours, [])
    naive = {**ROWS[1], "at": datetime(2026, 11, 29, 12, 0)}
    with pytest.raises(Exception, match="naive datetime"), db.write() as conn:
        insert_rows(conn, ours, [naive])
    with db.read() as conn:
        assert conn.execute(select(ours)).all() == []
