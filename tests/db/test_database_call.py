"""Database.call: inline work on the event loop, rerun in the thread pool when it
needs a PostgreSQL connection; idle PostgreSQL connections are checked before use."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

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


def test_a_busy_sqlite_write_lock_is_waited_for_on_the_loop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/busy.db"
    db, other = Database(url), Database(url)
    with db.write() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    ran_in: list[str] = []
    ticks: list[float] = []

    def insert() -> int:
        ran_in.append(threading.current_thread().name)
        with db.write() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
        return 1

    async def go() -> None:
        held = threading.Event()
        release = threading.Event()

        def hold_lock() -> None:
            # Another process's writer, as far as db can tell.
            with other.write():
                held.set()
                release.wait(5)

        holder = threading.Thread(target=hold_lock)
        holder.start()
        held.wait(5)

        async def ticker() -> None:
            for _ in range(5):
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)
            release.set()

        answer, _ = await asyncio.gather(db.call_waiting(insert), ticker())
        holder.join(5)
        assert answer == 1

    asyncio.run(go())
    # Tried inline, again and again, never in the thread pool; the loop kept running.
    loop_thread = ran_in[0]
    assert len(ran_in) > 2 and set(ran_in) == {loop_thread}
    assert len(ticks) == 5
    with db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    db.dispose()
    other.dispose()


def test_sqlite_reads_on_the_loop_keep_one_connection_and_see_new_commits(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'kept.db'}")
    with db.write() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    seen: list[tuple[int, int]] = []

    def count() -> None:
        with db.read_now() as conn:
            n = int(conn.execute(text("SELECT count(*) FROM t")).scalar_one())
            seen.append((id(conn.connection.dbapi_connection), n))

    async def go() -> None:
        await db.call(count)
        with db.write() as conn:  # a commit between two reads on the kept connection
            conn.execute(text("INSERT INTO t VALUES (1)"))
        await db.call(count)

    asyncio.run(go())
    (first, before), (second, after) = seen
    assert first == second, "the loop's reads should share one kept connection"
    assert (before, after) == (0, 1), "each read on the kept connection sees what is committed"
    kept = list(db._kept)
    assert len(kept) == 1
    db.dispose()
    assert kept[0].closed, "dispose closes the kept connection"
