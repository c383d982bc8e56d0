"""PreparedRead gives the same row as SQLAlchemy's own execution, on both backends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, bindparam, func, select

from songforge.db.database import Database
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
