"""Database.read_first: PostgreSQL reads awaited on the event loop (asyncpg),
surviving a server that dropped the pooled connection."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from sqlalchemy import bindparam, func, literal, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from songforge.db.async_reads import AsyncReads
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


@pytest.mark.postgres
def test_an_absent_server_is_an_outage_and_a_bad_read_is_a_bug(postgres_url: str) -> None:
    # api/error_handlers.py answers the first 503 (a lost connection) and the
    # others 500, as it does psycopg's errors on the synchronous paths.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    away = AsyncReads(str(make_url(postgres_url).set(host="127.0.0.1", port=closed_port)))
    here = AsyncReads(postgres_url)
    missing = PreparedRead(select(text("1 AS one")).select_from(text("no_such_table")))

    async def go(reads: AsyncReads, prepared: PreparedRead, parameters: dict[str, Any]) -> None:
        try:
            await reads.first(prepared, parameters)
        finally:
            await reads.close()

    # A server that answers but will not let us in (here: no such database) is
    # out of reach too, as psycopg's failed connections are.
    shut = AsyncReads(str(make_url(postgres_url).set(database="songforge_no_such_database")))
    for reads in (away, shut):
        with pytest.raises(OperationalError) as lost:
            asyncio.run(go(reads, ANSWER, {"n": 2}))
        assert lost.value.connection_invalidated
    for prepared, parameters in ((missing, {}), (ANSWER, {"n": "not a number"})):
        with pytest.raises(DBAPIError) as bug:
            asyncio.run(go(here, prepared, parameters))
        assert not isinstance(bug.value, OperationalError)
        assert not bug.value.connection_invalidated


@pytest.mark.postgres
def test_a_url_with_libpq_options_reads_too(postgres_url: str) -> None:
    # The URL is psycopg's; asyncpg would pass libpq's client options on to the
    # server as settings, which it refuses. application_name is a server setting.
    url = make_url(postgres_url).update_query_dict(
        {"connect_timeout": "3", "keepalives": "1", "application_name": "songforge-poll"}
    )
    db = Database(str(url.render_as_string(hide_password=False)))
    name = PreparedRead(select(func.current_setting("application_name").label("name")))

    async def go() -> str:
        try:
            row = await db.read_first(name, {})
        finally:
            await db.close_async()
        assert row is not None
        return str(row.name)

    assert asyncio.run(go()) == "songforge-poll"
    db.dispose()
