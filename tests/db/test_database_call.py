"""Database.call: inline work on the event loop, rerun in the thread pool when it
needs a PostgreSQL connection; idle PostgreSQL connections are checked before use."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import text

from songforge.db import database
from songforge.db.database import Database


def test_work_without_a_connection_runs_inline_and_with_one_in_a_thread(
    database_url: str,
) -> None:
    db = Database(database_url)
    calls: list[str] = []

    def no_database() -> str:
        calls.append(threading.current_thread().name)
        return "cached"

    def reads() -> int:
        calls.append(threading.current_thread().name)
        with db.read_now() as conn:
            return int(conn.execute(text("SELECT 41 + 1")).scalar_one())

    async def go() -> tuple[str, int, str]:
        loop_thread = threading.current_thread().name
        return await db.call(no_database), await db.call(reads), loop_thread

    cached, answer, loop_thread = asyncio.run(go())
    assert cached == "cached" and answer == 42
    assert calls[0] == loop_thread
    if db.is_sqlite:
        # A local file is read inline.
        assert calls[1:] == [loop_thread]
    else:
        # Started inline, stopped at the connection, rerun from its start in a thread.
        assert calls[1] == loop_thread and calls[2] != loop_thread and len(calls) == 3
    db.dispose()


def test_needs_thread_passes_through_broad_handlers(database_url: str) -> None:
    db = Database(database_url)

    def swallowing() -> str:
        try:
            with db.read() as conn:
                conn.execute(text("SELECT 1"))
            return "read"
        except Exception:  # what a careless caller would write
            return "swallowed"

    assert asyncio.run(db.call(swallowing)) == "read"
    db.dispose()


@pytest.mark.postgres
def test_an_idle_connection_killed_by_the_server_is_replaced(postgres_url: str) -> None:
    db = Database(postgres_url, pool_size=1)
    with db.read_now() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    other = Database(postgres_url, pool_size=1)
    with other.read_now() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()
    time.sleep(database.PING_IDLE_SECONDS + 0.2)
    # The pooled connection is dead; the ping on checkout finds out and replaces it.
    with db.read_now() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    db.dispose()
