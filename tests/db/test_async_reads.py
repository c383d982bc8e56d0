"""Database.read_first: PostgreSQL reads awaited on the event loop (psycopg's async
driver), surviving a server that dropped the pooled connection."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import bindparam, func, literal, select, text

from songforge.db.database import Database
from songforge.db.prepared import PreparedRead

ANSWER = PreparedRead(select((literal(40) + bindparam("n")).label("answer")))
BACKEND_PID = PreparedRead(
    select(bindparam("label").label("label"), func.pg_backend_pid().label("backend"))
)


def test_a_read_is_answered_on_the_event_loop_on_both_backends(database_url: str) -> None:
    db = Database(database_url)

    async def go() -> int:
        try:
            row = await db.read_first(ANSWER, {"n": 2})
        finally:
            await db.close_async()
        assert row is not None
        return int(row.answer)

    assert asyncio.run(go()) == 42
    db.dispose()


@pytest.mark.postgres
def test_a_connection_the_server_dropped_is_replaced(postgres_url: str) -> None:
    db = Database(postgres_url)

    async def go() -> tuple[int, int]:
        try:
            return await kill_and_read()
        finally:
            await db.close_async()

    async def kill_and_read() -> tuple[int, int]:
        first = await db.read_first(BACKEND_PID, {"label": "x"})
        assert first is not None
        pid = int(first.backend)
        # A server restart, or an idle timeout, kills the pooled connection.
        with db.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.commit()
        await asyncio.sleep(0.1)
        second = await db.read_first(BACKEND_PID, {"label": "y"})
        assert second is not None and second.label == "y"
        return pid, int(second.backend)

    before, after = asyncio.run(go())
    assert before != after
    db.dispose()
