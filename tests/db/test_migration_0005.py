"""Migration 0005 (accounts.unfinished_tasks) counts the tasks already in progress."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from songforge.db.database import Database
from songforge.db.migrate import alembic_config, upgrade_to_head
from songforge.db.tables import accounts, metadata, tasks
from songforge.db.types import utcnow
from songforge.services.accounts import create_account
from songforge.services.task_records import TaskStatus
from songforge.services.tasks import NewTask, queued_task


def _to(db: Database, revision: str) -> None:
    config = alembic_config()
    with db.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def test_the_counter_starts_at_each_accounts_tasks_in_progress(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade_to_head(db)
    with db.write() as conn:
        busy = create_account(conn, email="busy@example.com").id
        idle = create_account(conn, email="idle@example.com").id
    _to(db, "0004")
    # Rows as version 0004 wrote them: two in progress, one finished, for one account.
    columns = {c["name"] for c in sa.inspect(db.engine).get_columns("tasks")}
    with db.engine.begin() as conn:
        for number, status in enumerate([TaskStatus.IN_PROGRESS] * 2 + [TaskStatus.COMPLETED]):
            task = queued_task(
                NewTask(busy, None, "m", 1, {"prompt": "x"}, max_attempts=1),
                f"tsk_{number}",
                utcnow(),
            )
            row = {name: getattr(task, name) for name in columns} | {"status": status}
            conn.execute(sa.insert(tasks).values({k: v for k, v in row.items()}))
    upgrade_to_head(db)
    with db.read() as conn:
        counts = dict(conn.execute(sa.select(accounts.c.id, accounts.c.unfinished_tasks)).all())
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert counts == {busy: 2, idle: 0}
    assert [diff for diff in diffs if "unfinished_tasks" in repr(diff)] == []
    _to(db, "0004")
    assert "unfinished_tasks" not in {
        c["name"] for c in sa.inspect(db.engine).get_columns("accounts")
    }
    db.dispose()
