"""Migration 0003 (tasks.expected_finish_at) matches the table and runs both ways."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from songforge.db.database import Database
from songforge.db.migrate import alembic_config, upgrade_to_head
from songforge.db.tables import metadata


def _columns(db: Database) -> set[str]:
    return {column["name"] for column in inspect(db.engine).get_columns("tasks")}


def test_expected_finish_column_matches_the_table(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade_to_head(db)
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [diff for diff in diffs if "expected_finish_at" in repr(diff)] == []
    assert "expected_finish_at" in _columns(db)
    db.dispose()


def test_downgrades_and_upgrades_again(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade_to_head(db)
    config = alembic_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    assert "expected_finish_at" not in _columns(db)
    upgrade_to_head(db)
    assert "expected_finish_at" in _columns(db)
    db.dispose()
