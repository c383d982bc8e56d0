"""The work queue on the tasks table: claim with a lease, heartbeat, finish, reap.

A claim is one UPDATE of the oldest queued task of the worker's models
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so many workers never pick the same
row; SQLite's single writer serialises the same statement). It bumps
``attempt`` and sets the lease. Every later write by the worker is fenced on
(id, attempt, lease_owner, status IN_PROGRESS): a worker that lost its lease —
reaped after a stall, or whose task was cancelled — can neither finish nor charge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Update, bindparam, select, tuple_, update

from songforge.db.database import Database
from songforge.db.tables import tasks
from songforge.db.types import utcnow
from songforge.services import billing
from songforge.services.task_records import (
    TaskRecord,
    TaskStage,
    TaskStatus,
    load_task,
    record_from_row,
)
from songforge.services.tasks import fail_task

WORKER_LOST_ERROR = {
    "code": 500,
    "message": "The worker running this task stopped responding too many times",
    "type": "worker_lost",
}


@dataclass(frozen=True)
class Claim:
    """A worker's hold on one attempt of one task."""

    task: TaskRecord
    worker_id: str

    @property
    def attempt(self) -> int:
        return self.task.attempt


@lru_cache(maxsize=64)
def _claim_statement(models: tuple[str, ...], skip_locked: bool) -> Update:
    """The claim for one set of models, built once (workers claim in a loop)."""
    candidate = (
        select(tasks.c.id)
        .where(
            tasks.c.status == TaskStatus.IN_PROGRESS,
            tasks.c.stage == TaskStage.QUEUED,
            tasks.c.model.in_(list(models)),
        )
        .order_by(tasks.c.priority, tasks.c.created_at)
        .limit(1)
    )
    if skip_locked:
        candidate = candidate.with_for_update(skip_locked=True)
    return (
        update(tasks)
        .where(
            tasks.c.id == candidate.scalar_subquery(),
            tasks.c.status == TaskStatus.IN_PROGRESS,
            tasks.c.stage == TaskStage.QUEUED,
        )
        .values(
            stage=TaskStage.GENERATING,
            progress=0,
            stage_detail=None,
            expected_finish_at=None,
            attempt=tasks.c.attempt + 1,
            lease_owner=bindparam("worker_id"),
            lease_expires_at=bindparam("lease_expires_at", type_=tasks.c.lease_expires_at.type),
            started_at=bindparam("started_at", type_=tasks.c.started_at.type),
        )
        .returning(*tasks.c)
    )


def claim_next_task(
    db: Database, worker_id: str, models: Sequence[str], lease: timedelta
) -> Claim | None:
    if not models:
        return None
    now = utcnow()
    statement = _claim_statement(tuple(models), db.lock_clause_supported())
    # One statement, atomic by itself: on PostgreSQL one round trip (write_one).
    with db.write_one() as conn:
        row = conn.execute(
            statement, {"worker_id": worker_id, "lease_expires_at": now + lease, "started_at": now}
        ).first()
    if row is None:
        return None
    return Claim(task=record_from_row(row), worker_id=worker_id)


def _fenced(claim: Claim) -> Update:
    return update(tasks).where(
        tasks.c.id == claim.task.id,
        tasks.c.attempt == claim.attempt,
        tasks.c.lease_owner == claim.worker_id,
        tasks.c.status == TaskStatus.IN_PROGRESS,
    )


def progress_values(
    *, stage: str | None = None, progress: int | None = None, stage_detail: str | None = None
) -> dict[str, Any]:
    """The progress columns a heartbeat writes (None: leave the column as it is)."""
    values: dict[str, Any] = {}
    if stage is not None:
        values["stage"] = stage
    if progress is not None:
        values["progress"] = max(0, min(99, progress))
    if stage_detail is not None:
        values["stage_detail"] = stage_detail[:64]
    return values


def heartbeat(
    db: Database,
    claim: Claim,
    lease: timedelta,
    *,
    stage: str | None = None,
    progress: int | None = None,
    stage_detail: str | None = None,
    expected_finish_at: datetime | None = None,
) -> bool:
    """Extend the lease (and record progress). False: the lease is lost, stop working."""
    values: dict[str, Any] = {
        "lease_expires_at": utcnow() + lease,
        **progress_values(stage=stage, progress=progress, stage_detail=stage_detail),
    }
    if expected_finish_at is not None:
        values["expected_finish_at"] = expected_finish_at
    with db.write() as conn:
        return bool(conn.execute(_fenced(claim).values(**values)).rowcount == 1)


# Leases extended per statement (two bound parameters each; far below SQLite's limit).
LEASES_PER_STATEMENT = 400


def heartbeat_leases(
    db: Database,
    worker_id: str,
    leases: Sequence[tuple[Claim, dict[str, Any]]],
    lease: timedelta,
) -> set[str]:
    """Extend many leases of one worker in one transaction (the relay worker holds
    hundreds): one UPDATE per distinct set of progress values (most share one), each
    fenced like ``heartbeat`` on (id, attempt, owner, in progress). ``leases`` pairs
    each claim with the progress columns to write (may be empty). Returns the ids of
    the tasks whose lease is lost."""
    groups: dict[tuple[tuple[str, Any], ...], list[Claim]] = {}
    for claim, values in leases:
        groups.setdefault(tuple(sorted(values.items())), []).append(claim)
    kept: set[str] = set()
    expires = utcnow() + lease
    with db.write() as conn:
        for columns, claims in groups.items():
            for start in range(0, len(claims), LEASES_PER_STATEMENT):
                chunk = claims[start : start + LEASES_PER_STATEMENT]
                rows = conn.execute(
                    update(tasks)
                    .where(
                        tuple_(tasks.c.id, tasks.c.attempt).in_(
                            [(claim.task.id, claim.attempt) for claim in chunk]
                        ),
                        tasks.c.lease_owner == worker_id,
                        tasks.c.status == TaskStatus.IN_PROGRESS,
                    )
                    .values(lease_expires_at=expires, **dict(columns))
                    .returning(tasks.c.id)
                ).all()
                kept.update(row[0] for row in rows)
    return {claim.task.id for claim, _ in leases} - kept


def complete_task(db: Database, claim: Claim, output: dict[str, Any], storage_key: str) -> bool:
    """Mark the attempt completed and charge its hold, in one transaction.

    False when the lease was lost: nothing is charged and the caller discards
    its file.
    """
    task = claim.task
    with db.write() as conn:
        result = conn.execute(
            _fenced(claim).values(
                status=TaskStatus.COMPLETED,
                stage=TaskStage.DONE,
                progress=100,
                stage_detail=None,
                output=output,
                storage_key=storage_key,
                finished_at=utcnow(),
                lease_owner=None,
                lease_expires_at=None,
                credits_held=0,
                credits_charged=task.price,
            )
        )
        if result.rowcount != 1:
            return False
        billing.charge(conn, task.account_id, task.price, task.id)
        return True


def fail_attempt(db: Database, claim: Claim, error: dict[str, Any], *, retryable: bool) -> str:
    """End an attempt that raised. Returns "requeued", "failed" or "lost"."""
    with db.write() as conn:
        current = load_task(conn, claim.task.id)
        if (
            current is None
            or current.status != TaskStatus.IN_PROGRESS
            or current.attempt != claim.attempt
            or current.lease_owner != claim.worker_id
        ):
            return "lost"
        if retryable and current.attempt < current.max_attempts:
            _requeue(conn, current)
            return "requeued"
        fail_task(conn, current, error)
        return "failed"


def _requeue(conn: Connection, task: TaskRecord) -> None:
    conn.execute(
        update(tasks)
        .where(
            tasks.c.id == task.id,
            tasks.c.attempt == task.attempt,
            tasks.c.status == TaskStatus.IN_PROGRESS,
        )
        .values(
            stage=TaskStage.QUEUED,
            progress=0,
            stage_detail=None,
            lease_owner=None,
            lease_expires_at=None,
        )
    )


def reap_expired_leases(db: Database) -> tuple[int, int]:
    """Return tasks whose worker went silent to the queue, or fail them after
    ``max_attempts``. Returns (requeued, failed)."""
    now = utcnow()
    requeued = failed = 0
    with db.read() as conn:
        expired = [
            record_from_row(row)
            for row in conn.execute(
                select(tasks).where(
                    tasks.c.status == TaskStatus.IN_PROGRESS,
                    tasks.c.stage != TaskStage.QUEUED,
                    tasks.c.lease_expires_at < now,
                )
            )
        ]
    for task in expired:
        with db.write() as conn:
            current = load_task(conn, task.id)
            # Re-check inside the write transaction: the worker may have just
            # heartbeated or finished.
            if (
                current is None
                or current.status != TaskStatus.IN_PROGRESS
                or current.stage == TaskStage.QUEUED
                or current.attempt != task.attempt
                or current.lease_expires_at is None
                or current.lease_expires_at >= utcnow()
            ):
                continue
            if current.attempt < current.max_attempts:
                _requeue(conn, current)
                requeued += 1
            else:
                fail_task(conn, current, WORKER_LOST_ERROR)
                failed += 1
    return requeued, failed


# A task handed back is queued as if it had never been claimed.
_HANDED_BACK: dict[str, Any] = {
    "stage": TaskStage.QUEUED,
    "progress": 0,
    "stage_detail": None,
    "attempt": tasks.c.attempt - 1,
    "lease_owner": None,
    "lease_expires_at": None,
}


def hand_back_tasks(db: Database, worker_id: str) -> list[str]:
    """Return every task this worker holds to the queue as if it had never been
    claimed: lease released and the attempt not counted (a worker shutting down
    is no fault of the task). Returns the ids handed back.

    Fenced on the lease owner: a task already reaped, finished or cancelled is
    not touched, and the worker's own later writes (fenced on its attempt and
    owner) can no longer land.
    """
    with db.write() as conn:
        rows = conn.execute(
            update(tasks)
            .where(
                tasks.c.lease_owner == worker_id,
                tasks.c.status == TaskStatus.IN_PROGRESS,
                tasks.c.stage != TaskStage.QUEUED,
            )
            .values(**_HANDED_BACK)
            .returning(tasks.c.id)
        ).all()
    return [row[0] for row in rows]


def hand_back_task(db: Database, claim: Claim) -> bool:
    """``hand_back_tasks`` for one attempt (the relay worker hands back the tasks it
    still carries at its shutdown deadline, not those of the worker's other loop).
    False when the lease was already lost (finished, reaped, cancelled)."""
    with db.write() as conn:
        result = conn.execute(
            _fenced(claim).where(tasks.c.stage != TaskStage.QUEUED).values(**_HANDED_BACK)
        )
        return bool(result.rowcount == 1)
