"""The benchmark's baselines: a bare FastAPI app with one trivial JSON endpoint and,
given ``--database-url``, one that makes a single durable INSERT per request on the
same database songforge uses. Served by uvicorn with the same settings ``songforge
serve`` uses. These endpoints exist only here, never in the product.

The durable INSERT is what a create cannot avoid: one committed row. It is done the
cheapest plain way each driver allows, so it is a floor, not a straw man:

- SQLite: the stdlib driver, inline on the event loop (a local file answers in tens
  of microseconds), with the PRAGMAs songforge uses (WAL, ``synchronous=NORMAL``:
  a commit survives a crash of the process, as songforge's do), ``BEGIN IMMEDIATE``
  then ``COMMIT``, and the WAL checkpointed by a thread, as songforge's is
  (songforge/db/wal_checkpoints.py), not by a request's commit.
- PostgreSQL: psycopg's async driver, a pool of connections in autocommit mode, so
  each INSERT is one round trip and its own transaction (committed with the
  server's default ``synchronous_commit = on``: flushed to the WAL before it answers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response

from songforge.db.wal_checkpoints import WalCheckpoints

TABLE = "bench_durable_insert"
PG_POOL_SIZE = 10  # songforge's Database default pool size
BUSY_TIMEOUT_MS = 30000


class _SqliteInsert:
    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
            "PRAGMA wal_autocheckpoint=0",
        ):
            self.connection.execute(pragma)
        self.checkpoints = WalCheckpoints(path)
        self.checkpoints.start()
        self.connection.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} "
            "(id TEXT PRIMARY KEY, body TEXT NOT NULL, created_at TEXT NOT NULL)"
        )

    async def insert(self, row: tuple[str, str, str]) -> None:
        connection = self.connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?)", row)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    async def close(self) -> None:
        self.checkpoints.stop()
        self.connection.close()


class _PostgresInsert:
    def __init__(self, url: str) -> None:
        self.url = url
        self.idle: asyncio.Queue[Any] = asyncio.Queue()
        self.connections: list[Any] = []

    async def open(self) -> None:
        import psycopg

        for _ in range(PG_POOL_SIZE):
            connection = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
            self.connections.append(connection)
            self.idle.put_nowait(connection)
        await self.connections[0].execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} "
            "(id TEXT PRIMARY KEY, body JSONB NOT NULL, created_at TIMESTAMPTZ NOT NULL)"
        )

    async def insert(self, row: tuple[str, str, str]) -> None:
        connection = await self.idle.get()
        try:
            await connection.execute(f"INSERT INTO {TABLE} VALUES (%s, %s, %s)", row)
        finally:
            self.idle.put_nowait(connection)

    async def close(self) -> None:
        for connection in self.connections:
            await connection.close()


def _libpq_url(url: str) -> str:
    # SQLAlchemy spells the driver into the scheme; libpq does not know it.
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def build_app(database_url: str | None) -> FastAPI:
    store: _SqliteInsert | _PostgresInsert | None = None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        nonlocal store
        if database_url is None:
            yield
            return
        if database_url.startswith("sqlite:///"):
            store = _SqliteInsert(database_url.removeprefix("sqlite:///"))
        else:
            store = _PostgresInsert(_libpq_url(database_url))
            await store.open()
        yield
        await store.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/bare")
    async def bare() -> dict[str, Any]:
        return {"code": 200, "message": "success", "data": {"status": "ok"}}

    @app.get("/bare-sync")
    def bare_sync() -> dict[str, Any]:
        # A plain def runs in the threadpool.
        return {"code": 200, "message": "success", "data": {"status": "ok"}}

    @app.post("/durable-insert")
    async def durable_insert(request: Request) -> Response:
        # The same body a create gets, read and parsed, then stored as one row.
        body = json.loads(await request.body())
        assert store is not None, "started without --database-url"
        row_id = "ins_" + secrets.token_urlsafe(16)
        now = datetime.now(UTC).isoformat()
        await store.insert((row_id, json.dumps(body), now))
        content = json.dumps({"code": 200, "message": "success", "data": {"id": row_id}})
        return Response(content, media_type="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", help="enables POST /durable-insert on this database")
    args = parser.parse_args()
    # Mirrors songforge.cli.cmd_serve's uvicorn.run call (log level only changes start-up lines).
    uvicorn.run(
        build_app(args.database_url),
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
