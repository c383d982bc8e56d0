"""Schema migrations with Alembic, run programmatically (`songforge migrate`, and at start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from songforge.db.database import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade_to_head(db: Database) -> None:
    """Bring the schema up to date; safe to run on every start and from many processes."""
    config = alembic_config()
    with db.engine.begin() as connection:
        if not db.is_sqlite:
            # Serialise concurrent migrators (several API replicas starting at once).
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7311001)")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
