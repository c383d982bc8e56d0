"""Creating, reading, listing and cancelling tasks, with the billing that goes with them."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, tuple_, update

from songforge.db.database import Database
from songforge.db.tables import accounts, idempotency_keys, tasks
from songforge.db.types import utcnow
from songforge.services import billing
from songforge.services.errors import (
    ConcurrencyLimitReached,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidField,
    NotPermitted,
)
from songforge.services.ids import new_id
from songforge.services.task_records import (
    TaskRecord,
    TaskStage,
    TaskStatus,
    load_task,
    record_from_row,
)

CANCELED_ERROR = {"code": 499, "message": "The task was canceled", "type": "canceled"}
# How long a client refused for too many unfinished tasks should wait.
CONCURRENCY_RETRY_SECONDS = 5


@dataclass(frozen=True)
class NewTask:
    account_id: str
    api_key_id: str | None
    model: str
    price: int
    input: dict[str, Any]
    max_attempts: int
    priority: int = 100
    # How the price adds up when extras cost more (issue 14), kept on the hold's
    # ledger row; empty for the song's price alone.
    price_note: str = ""
    # Chosen before any write: a create written again after a transaction whose
    # outcome was lost (db/group_commit.py) is found by it, or stopped by the
    # primary key, instead of being queued and charged twice.
    task_id: str = field(default_factory=lambda: new_id("tsk", 16))


@dataclass(frozen=True)
class CreateResult:
    task: TaskRecord
    replayed: bool


def request_fingerprint(body: Any) -> str:
    """A stable hash of a request body, for Idempotency-Key comparisons."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# Built once (creating a task is a hot path; see billing.py).
# Counts the account's unfinished tasks, but never past the limit: the answer
# only has to say whether the limit is reached.
_COUNT_UNFINISHED = select(func.count()).select_from(
    select(tasks.c.id)
    .where(tasks.c.account_id == bindparam("account"), tasks.c.status == TaskStatus.IN_PROGRESS)
    .limit(bindparam("limit"))
    .subquery()
)
_SET_UNFINISHED = (
    update(accounts)
    .where(accounts.c.id == bindparam("account"))
    .values(unfinished_tasks=bindparam("count"))
)
# The account's row, locked for the create's transaction (PostgreSQL; SQLite's
# BEGIN IMMEDIATE already serialises every writer), with its counter.
_COUNTER = select(accounts.c.unfinished_tasks).where(accounts.c.id == bindparam("account"))
_LOCKED_COUNTER = _COUNTER.with_for_update()
_TASK_INSERT = insert(tasks)


def unfinished_tasks(conn: Connection, account_id: str, counter: int, max_concurrent: int) -> int:
    """The account's unfinished tasks, as far as the concurrency limit needs them.

    ``counter`` is the figure kept on the account's row (billing keeps it: a
    backlog of any depth costs a create nothing). Below the limit it is the
    answer. At or over the limit the tasks are counted (never past the limit),
    and a counter found too high is corrected: one that drifted (a task finished
    by an older version during a rolling upgrade) must not refuse creates.
    Runs in the create's transaction, with the account's row locked.
    """
    if counter < max_concurrent:
        return counter
    counted = int(
        conn.execute(
            _COUNT_UNFINISHED, {"account": account_id, "limit": max_concurrent}
        ).scalar_one()
    )
    if counted < max_concurrent:  # then the exact number, not the limit
        conn.execute(_SET_UNFINISHED, {"account": account_id, "count": counted})
    return counted


def concurrency_refusal(max_concurrent: int) -> ConcurrencyLimitReached:
    return ConcurrencyLimitReached(
        f"Too many tasks in progress for this account (limit {max_concurrent}); "
        "wait for one to finish",
        retry_after_seconds=CONCURRENCY_RETRY_SECONDS,
    )


def key_cap_refusal(reason: str = billing.KEY_CAP_REACHED) -> NotPermitted:
    return NotPermitted(reason.capitalize())


def credits_refusal(price: int, price_note: str = "") -> InsufficientCredits:
    cost = (
        f"this request costs {price} credits ({price_note})"
        if price_note
        else f"this model costs {price} credits"
    )
    return InsufficientCredits(f"Insufficient credits: {cost}")


def queued_task(new: NewTask, task_id: str, now: datetime) -> TaskRecord:
    """The record of a task just created: queued, its price held."""
    return TaskRecord(
        id=task_id,
        account_id=new.account_id,
        api_key_id=new.api_key_id,
        model=new.model,
        input=new.input,
        status=TaskStatus.IN_PROGRESS,
        stage=TaskStage.QUEUED,
        progress=0,
        stage_detail=None,
        priority=new.priority,
        attempt=0,
        max_attempts=new.max_attempts,
        lease_owner=None,
        lease_expires_at=None,
        created_at=now,
        started_at=None,
        finished_at=None,
        price=new.price,
        credits_held=new.price,
        credits_charged=0,
        credits_refunded=0,
        error=None,
        output=None,
        storage_key=None,
    )


def _lock_account(conn: Connection, db: Database, account_id: str) -> int:
    """Lock the account's row (serialising its creates: concurrency limit,
    idempotency) and read its counter of unfinished tasks (0 if it has no row)."""
    statement = _LOCKED_COUNTER if db.lock_clause_supported() else _COUNTER
    counter = conn.execute(statement, {"account": account_id}).scalar_one_or_none()
    return int(counter or 0)


def create_task(
    db: Database,
    new: NewTask,
    *,
    max_concurrent: int,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    idempotency_ttl: timedelta = timedelta(hours=24),
) -> CreateResult:
    """Hold the price and queue the task, all in one transaction."""
    now = utcnow()
    with db.write() as conn:
        counter = _lock_account(conn, db, new.account_id)
        if idempotency_key is not None:
            replay = _check_idempotency(
                conn, new.account_id, idempotency_key, fingerprint or "", now - idempotency_ttl
            )
            if replay is not None:
                return CreateResult(task=replay, replayed=True)

        if unfinished_tasks(conn, new.account_id, counter, max_concurrent) >= max_concurrent:
            raise concurrency_refusal(max_concurrent)

        task_id = new.task_id
        try:
            billing.hold(
                conn, new.account_id, new.api_key_id, new.price, task_id, note=new.price_note
            )
        except billing.KeyCapReached as exc:
            raise key_cap_refusal(str(exc)) from exc
        except billing.InsufficientCredits as exc:
            raise credits_refusal(new.price, new.price_note) from exc

        task = queued_task(new, task_id, now)
        conn.execute(_TASK_INSERT, {f.name: getattr(task, f.name) for f in fields(task)})
        if idempotency_key is not None:
            conn.execute(
                insert(idempotency_keys).values(
                    account_id=new.account_id,
                    key=idempotency_key,
                    request_hash=fingerprint or "",
                    task_id=task_id,
                    created_at=now,
                )
            )
        return CreateResult(task=task, replayed=False)


def _check_idempotency(
    conn: Connection, account_id: str, key: str, fingerprint: str, oldest: datetime
) -> TaskRecord | None:
    row = conn.execute(
        select(idempotency_keys).where(
            idempotency_keys.c.account_id == account_id, idempotency_keys.c.key == key
        )
    ).first()
    if row is None:
        return None
    if row.created_at < oldest:
        conn.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.account_id == account_id, idempotency_keys.c.key == key
            )
        )
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request body"
        )
    return load_task(conn, row.task_id)


def get_task_for(conn: Connection, account_id: str, task_id: str) -> TaskRecord | None:
    """The task if it belongs to the account; None otherwise (the caller answers 404)."""
    row = conn.execute(_TASK_OF_ACCOUNT, {"task_id": task_id, "account_id": account_id}).first()
    return record_from_row(row) if row else None


# Built once: polling runs it constantly.
_TASK_OF_ACCOUNT = select(tasks).where(
    tasks.c.id == bindparam("task_id"), tasks.c.account_id == bindparam("account_id")
)


@dataclass(frozen=True)
class TaskPage:
    items: list[TaskRecord]
    next_cursor: str | None


def encode_cursor(task: TaskRecord) -> str:
    raw = json.dumps([task.created_at.isoformat(), task.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, task_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(created), str(task_id)
    except (ValueError, TypeError, RecursionError) as exc:
        raise InvalidField("Invalid cursor", "cursor") from exc


def list_tasks(
    conn: Connection,
    account_id: str,
    *,
    status: str | None = None,
    model: str | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> TaskPage:
    """Newest first, keyset-paginated on (created_at, id)."""
    query = select(tasks).where(tasks.c.account_id == account_id)
    if status is not None:
        query = query.where(tasks.c.status == status)
    if model is not None:
        query = query.where(tasks.c.model == model)
    if cursor is not None:
        created, task_id = decode_cursor(cursor)
        query = query.where(tuple_(tasks.c.created_at, tasks.c.id) < tuple_(created, task_id))
    query = query.order_by(tasks.c.created_at.desc(), tasks.c.id.desc()).limit(limit + 1)
    rows = [record_from_row(row) for row in conn.execute(query)]
    more = len(rows) > limit
    items = rows[:limit]
    return TaskPage(items=items, next_cursor=encode_cursor(items[-1]) if more and items else None)


def fail_task(conn: Connection, task: TaskRecord, error: dict[str, Any]) -> bool:
    """Mark an unfinished task failed and release its hold; False if it had finished.

    The status condition is the fence: whichever of cancel, the worker or the
    reaper gets here first wins, and the hold is released exactly once.
    """
    now = utcnow()
    result = conn.execute(
        update(tasks)
        .where(tasks.c.id == task.id, tasks.c.status == TaskStatus.IN_PROGRESS)
        .values(
            status=TaskStatus.FAILED,
            stage=TaskStage.DONE,
            error=error,
            finished_at=now,
            lease_owner=None,
            lease_expires_at=None,
            credits_held=0,
            credits_refunded=task.price,
        )
    )
    if result.rowcount != 1:
        return False
    billing.release(conn, task.account_id, task.api_key_id, task.price, task.id)
    return True


def cancel_task(db: Database, account_id: str, task_id: str) -> TaskRecord | None:
    """Cancel the caller's unfinished task. None if it is not theirs; InvalidField if finished."""
    with db.write() as conn:
        task = get_task_for(conn, account_id, task_id)
        if task is None:
            return None
        if task.finished or not fail_task(conn, task, CANCELED_ERROR):
            raise InvalidField(f"Task {task_id} has already finished ({task.status})", "task_id")
        updated = load_task(conn, task_id)
        assert updated is not None
        return updated
