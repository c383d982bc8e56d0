"""Migration 0002 matches the table, runs both ways; the set-password command works."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher
from sqlalchemy import inspect

from songforge.dashboard import admin_cli
from songforge.db.database import Database
from songforge.db.migrate import alembic_config, current_revision, upgrade_to_head
from songforge.db.tables import metadata, web_sessions
from songforge.services import passwords
from songforge.services.accounts import create_account
from tests.conftest import LiveServer
from tests.dashboard.webclient import WebClient


def test_migration_matches_the_table_definition(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade_to_head(db)
    assert current_revision(db) == ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert web_sessions.name in metadata.tables
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    # Only this migration's table is ours to check; the rest belongs to 0001.
    assert [diff for diff in diffs if "web_sessions" in repr(diff)] == []
    db.dispose()


def test_migration_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade_to_head(db)
    config = alembic_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    assert "web_sessions" not in inspect(db.engine).get_table_names()
    upgrade_to_head(db)
    assert "web_sessions" in inspect(db.engine).get_table_names()
    db.dispose()


def test_production_hasher_is_argon2id_with_modern_cost() -> None:
    real = PasswordHasher()
    assert real.type.name == "ID"
    assert real.memory_cost >= 19 * 1024 and real.time_cost >= 2
    # The cheap test hasher is patched in; the module's default is the library's.
    assert passwords.PASSWORD_MIN >= 10


def test_password_rules() -> None:
    assert passwords.password_problem("short") is not None
    assert passwords.password_problem("x" * 2000) is not None
    assert passwords.password_problem("me@example.com", "me@example.com") is not None
    assert passwords.password_problem("a perfectly fine passphrase") is None
    hashed = passwords.hash_password("a perfectly fine passphrase")
    assert passwords.verify_password(hashed, "a perfectly fine passphrase")
    assert not passwords.verify_password(hashed, "wrong")
    assert not passwords.verify_password(None, "anything")
    assert not passwords.verify_password("not-a-hash", "anything")


def test_set_password_command_lets_the_first_admin_sign_in(
    dash_server: LiveServer,
    web: Callable[[], WebClient],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with dash_server.db.write() as conn:
        create_account(conn, email="root@localhost", role="admin")
    monkeypatch.setenv("SONGFORGE_DATABASE_URL", dash_server.settings.resolved_database_url())
    monkeypatch.setattr("sys.stdin", io.StringIO("the operator's passphrase\n"))
    assert admin_cli.main(["set-password", "root@localhost", "--password-stdin"]) == 0
    assert "password set for root@localhost" in capsys.readouterr().out
    client = web()
    assert client.sign_in("root@localhost", "the operator's passphrase").status_code == 303
    assert client.get("/dashboard/admin").status_code == 200

    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    with pytest.raises(SystemExit, match="at least 10"):
        admin_cli.main(["set-password", "root@localhost", "--password-stdin"])
    with pytest.raises(SystemExit, match="no account"):
        admin_cli.main(["set-password", "ghost@localhost", "--password-stdin"])


def test_sign_in_attempts_are_rate_limited(
    user: WebClient, web: Callable[[], WebClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    from songforge.dashboard import routes_auth

    monkeypatch.setattr(routes_auth, "SIGN_IN_ATTEMPTS_PER_MINUTE", 3)
    client = web()
    codes = [client.sign_in(user.email, "wrong password!").status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]
    # Even the right password waits: guessing cannot continue past the limit.
    assert client.sign_in(user.email).status_code == 429
