"""worker/lease.py: a heartbeat the database refused is logged, retried, and loses nothing."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import text

from songforge.db.database import Database
from songforge.services.accounts import create_account
from songforge.services.orders import grant_credits
from songforge.services.queue import Claim, claim_next_task
from songforge.services.task_records import load_task
from songforge.services.tasks import NewTask, create_task
from songforge.worker.lease import GENERATING_SPAN, LeaseKeeper

LEASE = timedelta(seconds=60)
SECRET_LYRICS = "only-the-client-should-see-these-words"


@pytest.fixture
def claim(db: Database) -> Claim:
    with db.write() as conn:
        account = create_account(conn)
        grant_credits(conn, account.id, 10, provider="operator")
    create_task(
        db,
        NewTask(account.id, None, "m", 1, {"lyrics": SECRET_LYRICS}, max_attempts=1),
        max_concurrent=5,
    )
    claimed = claim_next_task(db, "w1", ["m"], LEASE)
    assert claimed is not None
    return claimed


def _progress(db: Database, task_id: str) -> tuple[int, str | None]:
    with db.read() as conn:
        task = load_task(conn, task_id)
    assert task is not None
    return task.progress, task.stage_detail


def test_a_failed_heartbeat_is_logged_and_its_progress_written_by_the_next(
    db: Database, claim: Claim, caplog: pytest.LogCaptureFixture
) -> None:
    keeper = LeaseKeeper(db, claim, LEASE, interval=3600)
    assert keeper.beat()
    keeper.engine_progress("singing", 0.5)
    # The database refuses the next write (as a table being away would).
    with db.write() as conn:
        conn.execute(text("ALTER TABLE tasks RENAME TO tasks_away"))
    with caplog.at_level(logging.WARNING, logger="songforge.worker"):
        assert keeper.beat()  # a hiccup is not a lost lease
    assert not keeper.lost.is_set()
    [record] = [r for r in caplog.records if "heartbeat failed" in r.getMessage()]
    message = record.getMessage()
    assert claim.task.id in message and "attempt 1" in message
    assert "OperationalError" in message and "no such table" in message
    # The driver's words only: not the statement, nor what the client sent.
    assert "UPDATE" not in message and SECRET_LYRICS not in message
    with db.write() as conn:
        conn.execute(text("ALTER TABLE tasks_away RENAME TO tasks"))
    assert keeper.beat()
    low, high = GENERATING_SPAN
    assert _progress(db, claim.task.id) == (low + int(0.5 * (high - low)), "singing")


def test_a_heartbeat_for_a_reclaimed_task_says_the_lease_is_lost(
    db: Database, claim: Claim
) -> None:
    keeper = LeaseKeeper(db, claim, LEASE, interval=3600)
    with db.write() as conn:
        conn.execute(text("UPDATE tasks SET lease_owner = 'w2', attempt = attempt + 1"))
    assert not keeper.beat()
    assert keeper.lost.is_set()
