"""Fixtures for the dashboard: a live server per module, web clients, an admin.

One server per test module (not per test) keeps the suite inside its time
budget; every test makes its own accounts, so tests stay independent.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher

from songforge.app import create_app
from songforge.context import AppContext
from songforge.dashboard import routes_auth
from songforge.services import passwords
from songforge.services.accounts import create_account
from songforge.services.passwords import set_password
from tests.conftest import LiveServer, make_settings, run_server
from tests.dashboard.webclient import PASSWORD, WebClient, new_email
from tests.fakes import ToneEngine


@pytest.fixture(scope="module", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """argon2id at its lowest cost: the production parameters are checked in test_passwords."""
    with pytest.MonkeyPatch.context() as patch:
        cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        patch.setattr(passwords, "_hasher", cheap)
        patch.setattr(passwords, "_DUMMY_HASH", cheap.hash("dummy"))
        # Every test signs in from 127.0.0.1; the limits get their own test.
        patch.setattr(routes_auth, "SIGN_IN_ATTEMPTS_PER_MINUTE", 10_000)
        yield


@pytest.fixture(scope="module")
def dash_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("dashboard")
    settings = make_settings(root / "srv", f"sqlite:///{root / 'songforge.db'}")
    context = AppContext.from_settings(settings)
    app = create_app(settings, context=context)
    server, thread, base = run_server(app)
    live = LiveServer(
        url=base,
        context=context,
        settings=settings,
        api_key="",
        account_id="",
        engines={"minimax-music": ToneEngine(seconds=1.0)},
    )
    first = live.new_account(credits=1000)
    live.api_key, live.account_id = first.api_key, first.id
    live.start_worker()
    yield live
    live.stop_workers()
    server.should_exit = True
    thread.join(10)
    context.db.dispose()


@pytest.fixture
def web(dash_server: LiveServer) -> Iterator[Callable[[], WebClient]]:
    """Makes fresh, signed-out web clients for the module's live server."""
    made: list[WebClient] = []

    def make() -> WebClient:
        client = WebClient(dash_server.url)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def user(web: Callable[[], WebClient]) -> WebClient:
    client = web()
    response = client.sign_up()
    assert response.status_code == 303, response.text
    return client


def make_admin(server: Any, email: str | None = None, password: str = PASSWORD) -> str:
    email = email or new_email()
    with server.db.write() as conn:
        account = create_account(conn, email=email, role="admin")
        set_password(conn, account.id, password)
    return email


@pytest.fixture
def admin(dash_server: LiveServer, web: Callable[[], WebClient]) -> WebClient:
    client = web()
    email = make_admin(dash_server)
    assert client.sign_in(email).status_code == 303
    return client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
