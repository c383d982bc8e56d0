"""Queue positions from a per-process snapshot agree with counting the tasks ahead."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from songforge.db.database import ConnectionNeeded, Database
from songforge.db.migrate import upgrade_to_head
from songforge.services.accounts import create_account
from songforge.services.caches import REFRESH_CLAIM_SECONDS
from songforge.services.orders import grant_credits
from songforge.services.queue import claim_next_task, fail_attempt
from songforge.services.queue_positions import (
    TASK_AND_HEAD,
    QueueHead,
    QueuePositions,
    exact_queue_position,
    task_and_head_from_row,
)
from songforge.services.task_records import TaskRecord, load_task
from songforge.services.tasks import NewTask, cancel_task, create_task

LEASE = timedelta(seconds=60)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _setup(database_url: str) -> tuple[Database, str, str]:
    """A database, an account with credits, and a model name no other test queues for
    (the PostgreSQL database is shared by the session)."""
    db = Database(database_url)
    upgrade_to_head(db)
    with db.write() as conn:
        account = create_account(conn)
        grant_credits(conn, account.id, 10_000, provider="operator")
    return db, account.id, f"m-{uuid.uuid4().hex[:8]}"


def _create(db: Database, account_id: str, model: str) -> str:
    new = NewTask(account_id, None, model, 1, {"prompt": "x"}, max_attempts=3)
    return create_task(db, new, max_concurrent=1000).task.id


def _positions(db: Database, positions: QueuePositions, ids: list[str]) -> dict[str, int | None]:
    """Each task's position from the cache, or None once it is no longer queued;
    checked against the exact count on the way."""
    found: dict[str, int | None] = {}
    with db.read() as conn:
        for task_id in ids:
            task = load_task(conn, task_id)
            assert task is not None
            if task.finished or task.stage != "queued":
                found[task_id] = None
                continue
            found[task_id] = positions.position(conn, task)
    return found


def _exact(db: Database, ids: list[str]) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    with db.read() as conn:
        for task_id in ids:
            task: TaskRecord | None = load_task(conn, task_id)
            assert task is not None
            queued = not task.finished and task.stage == "queued"
            found[task_id] = exact_queue_position(conn, task) if queued else None
    return found


def test_positions_follow_claims_at_once_without_rereading_the_queue(database_url: str) -> None:
    db, account, model = _setup(database_url)
    clock = Clock()
    positions = QueuePositions(ttl=1.0, clock=clock)
    ids = [_create(db, account, model) for _ in range(8)]
    _create(db, account, model="other")  # another model's queue is not counted
    assert _positions(db, positions, ids) == {t: i + 1 for i, t in enumerate(ids)}
    assert positions.refreshes == 1
    for claimed in range(1, 4):
        assert claim_next_task(db, "w1", [model], LEASE) is not None
        found = _positions(db, positions, ids)
        assert found == _exact(db, ids)
        assert [found[t] for t in ids[claimed:]] == list(range(1, 9 - claimed))
    # Claims are followed from the queue's head alone: the backlog was read once.
    assert positions.refreshes == 1
    db.dispose()


def test_new_tasks_behind_the_snapshot_are_counted(database_url: str) -> None:
    db, account, model = _setup(database_url)
    positions = QueuePositions(ttl=1.0, clock=Clock())
    first = [_create(db, account, model) for _ in range(3)]
    assert _positions(db, positions, first) == {t: i + 1 for i, t in enumerate(first)}
    later = [_create(db, account, model) for _ in range(3)]
    assert claim_next_task(db, "w1", [model], LEASE) is not None
    everything = first + later
    found = _positions(db, positions, everything)
    assert found == _exact(db, everything)
    assert [found[t] for t in everything] == [None, 1, 2, 3, 4, 5]
    assert positions.refreshes == 1
    db.dispose()


def test_a_cancel_or_a_requeue_shows_after_the_snapshot_expires(database_url: str) -> None:
    db, account, model = _setup(database_url)
    clock = Clock()
    positions = QueuePositions(ttl=1.0, clock=clock)
    ids = [_create(db, account, model) for _ in range(6)]
    assert _positions(db, positions, ids) == _exact(db, ids)
    cancel_task(db, account, ids[2])
    found = _positions(db, positions, ids)
    # Within the snapshot's life the cancelled task may still be counted ...
    assert found[ids[3]] in (3, 4)
    clock.now += 1.5
    # ... never longer.
    assert _positions(db, positions, ids) == _exact(db, ids)
    # A retried task goes back to its old place: the head changed, so the
    # snapshot is read again at once.
    claim = claim_next_task(db, "w1", [model], LEASE)
    assert claim is not None and claim.task.id == ids[0]
    assert _positions(db, positions, ids) == _exact(db, ids)
    assert fail_attempt(db, claim, {"code": 500}, retryable=True) == "requeued"
    found = _positions(db, positions, ids)
    assert found == _exact(db, ids)
    assert found[ids[0]] == 1 and found[ids[1]] == 2
    db.dispose()


def test_an_empty_queue_and_a_single_task(database_url: str) -> None:
    db, account, model = _setup(database_url)
    positions = QueuePositions(clock=Clock())
    only = _create(db, account, model)
    assert _positions(db, positions, [only]) == {only: 1}
    assert claim_next_task(db, "w1", [model], LEASE) is not None
    assert _positions(db, positions, [only]) == {only: None}
    again = _create(db, account, model)
    assert _positions(db, positions, [again]) == {again: 1}
    db.dispose()


def _task_and_head(
    db: Database, account_id: str, task_id: str
) -> tuple[TaskRecord, QueueHead] | None:
    """The poll's read (Database.read_by_key of TASK_AND_HEAD), as the API makes it:
    someone else's task is not found."""

    async def read() -> tuple[TaskRecord, QueueHead] | None:
        try:
            row = await db.read_by_key(TASK_AND_HEAD, task_id)
        finally:
            await db.close_async()
        if row is None or row.account_id != account_id:
            return None
        return task_and_head_from_row(row)

    return asyncio.run(read())


def test_the_head_read_with_the_task_gives_the_same_positions(database_url: str) -> None:
    db, account, model = _setup(database_url)
    positions = QueuePositions(clock=Clock())
    ids = [_create(db, account, model) for _ in range(5)]
    assert claim_next_task(db, "w1", [model], LEASE) is not None
    assert _task_and_head(db, "acc_someone_else", ids[1]) is None
    with db.read_now() as conn:
        found = []
        for task_id in ids[1:]:
            read = _task_and_head(db, account, task_id)
            assert read is not None
            task, head = read
            assert head.key == (task.priority, load_task(conn, ids[1]).created_at)  # type: ignore[union-attr]
            found.append(positions.position(conn, task, head))
    assert found == [1, 2, 3, 4]
    assert found == [_exact(db, ids)[t] for t in ids[1:]]
    db.dispose()


def test_an_expired_snapshot_is_refreshed_by_one_poll_while_the_others_use_it(
    database_url: str,
) -> None:
    # On the event loop (no connection) the first poll to find the snapshot expired
    # claims the refresh and goes for a connection (the thread pool); the polls in
    # flight meanwhile answer from the old snapshot instead of all reading it.
    db, account, model = _setup(database_url)
    clock = Clock()
    positions = QueuePositions(ttl=1.0, clock=clock)
    ids = [_create(db, account, model) for _ in range(3)]
    assert _positions(db, positions, ids) == {t: i + 1 for i, t in enumerate(ids)}
    with db.read() as conn:
        tasks = [load_task(conn, t) for t in ids]
        head = QueueHead((tasks[0].priority, tasks[0].created_at))  # type: ignore[union-attr]
    clock.now += 1.5
    with pytest.raises(ConnectionNeeded):
        positions.position(None, tasks[0], head)  # type: ignore[arg-type]
    assert [positions.position(None, t, head) for t in tasks] == [1, 2, 3]  # type: ignore[arg-type]
    assert positions.refreshes == 1
    with db.read() as conn:  # the claimer, rerun with a connection
        assert positions.position(conn, tasks[1], head) == 2  # type: ignore[arg-type]
    assert positions.refreshes == 2
    # A claim whose refresh never came stands for a moment only.
    clock.now += 1.5
    with pytest.raises(ConnectionNeeded):
        positions.position(None, tasks[0], head)  # type: ignore[arg-type]
    clock.now += REFRESH_CLAIM_SECONDS + 0.1
    with pytest.raises(ConnectionNeeded):
        positions.position(None, tasks[0], head)  # type: ignore[arg-type]
    db.dispose()
