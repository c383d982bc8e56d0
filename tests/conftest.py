"""Shared fixtures: databases (SQLite and PostgreSQL), a live HTTP server with workers."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from songforge.api.proxies import SERVER_OPTIONS
from songforge.app import create_app
from songforge.context import AppContext
from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.engines.base import Engine
from songforge.services.accounts import create_account
from songforge.services.keys import create_key
from songforge.services.orders import grant_credits
from songforge.settings import Settings
from songforge.worker.runner import Worker
from tests.fakes import ToneEngine
from tests.redis_server import redis_server  # noqa: F401 (fixture)
from tests.s3_server import s3_bucket, s3_server  # noqa: F401 (fixtures)

PG_ADMIN_URL = os.environ.get(
    "SONGFORGE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _postgres_available() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    if not _postgres_available():
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI but {PG_ADMIN_URL} is unreachable")
        pytest.skip("PostgreSQL not reachable")
    name = f"songforge_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'songforge.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    """A migrated SQLite database of the test's own (tests/services/test_queue.py
    overrides it with one on each backend)."""
    database = Database(f"sqlite:///{tmp_path / 'songforge.db'}")
    upgrade_to_head(database)
    yield database
    database.dispose()


@pytest.fixture
def account_id(db: Database) -> str:
    """An account with 100 credits in ``db``."""
    with db.write() as conn:
        account = create_account(conn)
        grant_credits(conn, account.id, 100, provider="operator")
    return account.id


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "secret_key": "test-secret-" + uuid.uuid4().hex,
        "workers": 0,
        "lease_seconds": 5.0,
        "heartbeat_seconds": 0.5,
        "poll_interval_seconds": 0.05,
        "reaper_interval_seconds": 0.5,
        "rate_limit_per_minute": 10_000,
        "max_concurrent_tasks": 50,
    }
    values.update(overrides)
    return Settings(**values)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Account:
    id: str
    api_key: str
    key_id: str


@dataclass
class LiveServer:
    """A real uvicorn server on loopback, with in-process workers on fake engines."""

    url: str
    context: AppContext
    settings: Settings
    api_key: str
    account_id: str
    engines: dict[str, Engine]
    _stops: list[threading.Event] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)

    @property
    def db(self) -> Database:
        return self.context.db

    def client(self, api_key: str | None = None) -> httpx.Client:
        key = api_key if api_key is not None else self.api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def new_account(
        self,
        credits: int = 1000,
        *,
        credit_cap: int | None = None,
        allowed_models: list[str] | None = None,
    ) -> Account:
        with self.db.write() as conn:
            account = create_account(conn, email=f"{uuid.uuid4().hex[:12]}@example.com")
            if credits:
                grant_credits(conn, account.id, credits, provider="operator")
            created = create_key(
                conn, account.id, credit_cap=credit_cap, allowed_models=allowed_models
            )
        return Account(id=account.id, api_key=created.secret, key_id=created.key.id)

    def start_worker(self, engines: Mapping[str, Engine] | None = None) -> Worker:
        worker = Worker(self.db, self.context.storage, dict(engines or self.engines), self.settings)
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
        thread.start()
        self._stops.append(stop)
        self._threads.append(thread)
        # Wait until the worker is registered, so its models are live.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if all(self.context.live_workers().get(m) for m in worker.models):
                break
            time.sleep(0.02)
        return worker

    def stop_workers(self) -> None:
        # Let engines held at a gate finish, or their worker threads never stop.
        for engine in self.engines.values():
            gate = getattr(engine, "gate", None)
            if gate is not None:
                gate.set()
        for stop in self._stops:
            stop.set()
        for thread in self._threads:
            thread.join(10)
        self._stops.clear()
        self._threads.clear()

    def wait_for(self, task_id: str, api_key: str | None = None, timeout: float = 30) -> Any:
        with self.client(api_key) as client:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data = client.get(f"/api/v1/tasks/{task_id}").json()["data"]
                if data["status"] != "IN_PROGRESS":
                    return data
                time.sleep(0.05)
        raise AssertionError(f"task {task_id} did not finish in {timeout}s")


def run_server(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    # SERVER_OPTIONS: as `songforge serve` runs it (the app, not uvicorn, reads proxy headers).
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **SERVER_OPTIONS
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[tuple[uvicorn.Server, threading.Thread, LiveServer]] = []

    def make(
        database_url: str | None = None,
        engines: Mapping[str, Engine] | None = None,
        start_workers: bool = True,
        **overrides: Any,
    ) -> LiveServer:
        url = database_url or f"sqlite:///{tmp_path / 'songforge.db'}"
        settings = make_settings(tmp_path / uuid.uuid4().hex[:6], url, **overrides)
        context = AppContext.from_settings(settings)
        app = create_app(settings, context=context)
        server, thread, base = run_server(app)
        live = LiveServer(
            url=base,
            context=context,
            settings=settings,
            api_key="",
            account_id="",
            engines=dict(engines or {"minimax-music": ToneEngine()}),
        )
        first = live.new_account(credits=1000)
        live.api_key, live.account_id = first.api_key, first.id
        started.append((server, thread, live))
        if start_workers:
            live.start_worker()
        return live

    yield make
    for server, thread, live in started:
        live.stop_workers()
        server.should_exit = True
        thread.join(10)
        live.context.db.dispose()


@pytest.fixture
def live_server(server_factory: Any, database_url: str) -> LiveServer:
    """The service over real HTTP, on SQLite and on PostgreSQL."""
    return server_factory(database_url)  # type: ignore[no-any-return]


@pytest.fixture
def sqlite_server(server_factory: Any) -> LiveServer:
    """The service over real HTTP on SQLite only (for tests that need no backend matrix)."""
    return server_factory()  # type: ignore[no-any-return]
