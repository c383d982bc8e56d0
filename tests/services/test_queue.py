"""services/queue.py: claims, and the fence on every later write of a worker.

A worker's writes are conditioned on (task, attempt, lease owner, in progress). The
end-to-end tests kill workers and see the outcome; these look at the fence itself:
a stale holder of a lease cannot heartbeat, complete or fail a task that another
worker reclaimed, and nobody is charged or refunded twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.db.tables import tasks
from songforge.db.types import utcnow
from songforge.services.accounts import get_account
from songforge.services.queue import (
    Claim,
    claim_next_task,
    complete_task,
    fail_attempt,
    hand_back_tasks,
    heartbeat,
    reap_expired_leases,
)
from songforge.services.task_records import TaskRecord, TaskStage, TaskStatus, load_task
from songforge.services.tasks import NewTask, cancel_task, create_task

LEASE = timedelta(seconds=60)
PRICE = 7
ERROR = {"code": 500, "message": "boom", "type": "generation_error"}


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade_to_head(database)
    yield database
    database.dispose()


class Names:
    """This test's model and worker names.

    The PostgreSQL database is shared by the whole session: with names of its own,
    no test claims, expires or reaps another test's tasks.
    """

    def __init__(self) -> None:
        self.suffix = uuid.uuid4().hex[:12]
        self.model = f"m-{self.suffix}"
        self.other_model = f"other-{self.suffix}"

    def worker(self, name: str) -> str:
        return f"{name}-{self.suffix}"


@pytest.fixture
def names() -> Names:
    return Names()


def _queue(
    db: Database, account_id: str, names: Names, *, model: str = "", attempts: int = 3
) -> str:
    new = NewTask(
        account_id, None, model or names.model, PRICE, {"prompt": "x"}, max_attempts=attempts
    )
    return create_task(db, new, max_concurrent=50).task.id


def _claim(db: Database, names: Names, worker: str, models: list[str] | None = None) -> Claim:
    claim = claim_next_task(db, names.worker(worker), models or [names.model], LEASE)
    assert claim is not None
    return claim


def _task(db: Database, task_id: str) -> TaskRecord:
    with db.read() as conn:
        task = load_task(conn, task_id)
    assert task is not None
    return task


def _expire_leases(db: Database, names: Names) -> None:
    with db.write() as conn:
        conn.execute(
            update(tasks)
            .where(tasks.c.model == names.model, tasks.c.lease_expires_at.is_not(None))
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


def _balance(db: Database, account_id: str) -> tuple[int, int]:
    with db.read() as conn:
        account = get_account(conn, account_id)
    assert account is not None
    return account.balance, account.held


def _reclaimed(db: Database, account_id: str, names: Names) -> tuple[str, Claim, Claim]:
    """A task claimed by w1, reaped after w1 went silent, and claimed again by w2."""
    task_id = _queue(db, account_id, names)
    stale = _claim(db, names, "w1")
    _expire_leases(db, names)
    reap_expired_leases(db)
    assert _task(db, task_id).stage == TaskStage.QUEUED
    fresh = _claim(db, names, "w2")
    assert fresh.task.id == task_id and fresh.attempt == stale.attempt + 1
    return task_id, stale, fresh


def test_a_claim_takes_the_oldest_queued_task_of_the_workers_models(
    db: Database, account_id: str, names: Names
) -> None:
    other = _queue(db, account_id, names, model=names.other_model)
    first = _queue(db, account_id, names)
    second = _queue(db, account_id, names)
    claim = _claim(db, names, "w1")
    assert claim.task.id == first
    assert (claim.attempt, claim.task.lease_owner, claim.task.stage) == (
        1,
        names.worker("w1"),
        TaskStage.GENERATING,
    )
    assert _claim(db, names, "w2").task.id == second
    assert claim_next_task(db, names.worker("w3"), [names.model], LEASE) is None
    assert claim_next_task(db, names.worker("w3"), [], LEASE) is None
    assert _claim(db, names, "w3", [names.other_model, names.model]).task.id == other


def test_a_stale_worker_cannot_heartbeat_complete_or_fail(
    db: Database, account_id: str, names: Names
) -> None:
    task_id, stale, fresh = _reclaimed(db, account_id, names)
    assert not heartbeat(db, stale, LEASE, progress=50)
    assert not complete_task(db, stale, {"format": "mp3"}, "stale/key.mp3")
    assert fail_attempt(db, stale, ERROR, retryable=True) == "lost"
    assert fail_attempt(db, stale, ERROR, retryable=False) == "lost"
    task = _task(db, task_id)
    assert (task.status, task.lease_owner, task.attempt, task.progress) == (
        TaskStatus.IN_PROGRESS,
        names.worker("w2"),
        fresh.attempt,
        0,
    )
    assert task.storage_key is None and task.credits_charged == 0
    # The current holder is unaffected, and is charged exactly once.
    assert heartbeat(db, fresh, LEASE, progress=40, stage_detail="singing")
    assert complete_task(db, fresh, {"format": "mp3"}, "fresh/key.mp3")
    assert _balance(db, account_id) == (100 - PRICE, 0)
    done = _task(db, task_id)
    assert (done.status, done.storage_key, done.credits_charged) == (
        TaskStatus.COMPLETED,
        "fresh/key.mp3",
        PRICE,
    )


def test_nothing_lands_after_the_task_finished(db: Database, account_id: str, names: Names) -> None:
    task_id = _queue(db, account_id, names)
    claim = _claim(db, names, "w1")
    assert complete_task(db, claim, {"format": "mp3"}, "k.mp3")
    assert not heartbeat(db, claim, LEASE, progress=10)
    assert not complete_task(db, claim, {"format": "mp3"}, "k.mp3")
    assert fail_attempt(db, claim, ERROR, retryable=False) == "lost"
    assert _balance(db, account_id) == (100 - PRICE, 0)  # charged once, never refunded
    assert _task(db, task_id).status == TaskStatus.COMPLETED


def test_a_cancelled_task_fences_its_worker_out(
    db: Database, account_id: str, names: Names
) -> None:
    task_id = _queue(db, account_id, names)
    claim = _claim(db, names, "w1")
    cancel_task(db, account_id, task_id)
    assert not heartbeat(db, claim, LEASE, progress=10)
    assert not complete_task(db, claim, {"format": "mp3"}, "k.mp3")
    assert _balance(db, account_id) == (100, 0)  # released, never charged
    assert _task(db, task_id).status == TaskStatus.FAILED


def test_a_failed_attempt_is_retried_until_the_attempts_run_out(
    db: Database, account_id: str, names: Names
) -> None:
    task_id = _queue(db, account_id, names, attempts=2)
    assert fail_attempt(db, _claim(db, names, "w1"), ERROR, retryable=True) == "requeued"
    assert _task(db, task_id).stage == TaskStage.QUEUED
    assert fail_attempt(db, _claim(db, names, "w2"), ERROR, retryable=True) == "failed"
    failed = _task(db, task_id)
    assert (failed.status, failed.error, failed.credits_refunded) == (
        TaskStatus.FAILED,
        ERROR,
        PRICE,
    )
    assert _balance(db, account_id) == (100, 0)


def test_the_reaper_fails_a_task_whose_workers_keep_vanishing(
    db: Database, account_id: str, names: Names
) -> None:
    task_id = _queue(db, account_id, names, attempts=1)
    _claim(db, names, "w1")
    reap_expired_leases(db)
    assert _task(db, task_id).status == TaskStatus.IN_PROGRESS  # the lease is still good
    _expire_leases(db, names)
    reap_expired_leases(db)
    task = _task(db, task_id)
    assert task.status == TaskStatus.FAILED and task.error is not None
    assert task.error["type"] == "worker_lost"
    assert _balance(db, account_id) == (100, 0)


def test_a_heartbeat_keeps_the_reaper_away(db: Database, account_id: str, names: Names) -> None:
    task_id = _queue(db, account_id, names)
    claim = _claim(db, names, "w1")
    _expire_leases(db, names)
    assert heartbeat(db, claim, LEASE)  # the worker was slow, not gone: still its lease
    reap_expired_leases(db)
    assert _task(db, task_id).lease_owner == names.worker("w1")


def test_a_task_handed_back_does_not_count_the_attempt_and_fences_the_giver(
    db: Database, account_id: str, names: Names
) -> None:
    task_id = _queue(db, account_id, names, attempts=1)
    claim = _claim(db, names, "w1")
    assert hand_back_tasks(db, names.worker("w1")) == [task_id]
    assert not heartbeat(db, claim, LEASE)
    assert not complete_task(db, claim, {"format": "mp3"}, "k.mp3")
    again = _claim(db, names, "w2")
    assert again.attempt == 1  # a shutdown is no fault of the task
    assert complete_task(db, again, {"format": "mp3"}, "k.mp3")
