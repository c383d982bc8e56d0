"""A queued task's position without counting the backlog on every poll.

The exact position is the number of queued tasks of the model ahead of this one,
plus one; counting them costs as much as the backlog is long, and every poll of
every queued task asked. Instead, each process keeps, per model, a snapshot of
the queue's order (the sorted (priority, created_at) keys of its queued tasks),
taken at most once per ``ttl`` seconds, and every poll reads only the queue's
current head (one index probe):

    position = rank(task) - rank(head) + 1        (ranks in the snapshot)

Claims take tasks from the head in this same order, so whatever the snapshot
holds before the current head has left the queue: claims are exact at once. A
task newer than the snapshot adds the count of the tasks queued after the
snapshot and ahead of it (only the newest tasks: a short index range). What the
snapshot cannot see until its next refresh (at most ``ttl``, and the moment one
poll takes to refresh it while the others answer from the old one) is a task
cancelled from the middle of the queue, or a retried task put back in it: the
position may count the one or miss the other for that long. When the head itself is not
in the snapshot (requeued, or everything in it was claimed), the snapshot is
refreshed at once.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    ScalarSelect,
    and_,
    bindparam,
    func,
    or_,
    select,
)

from songforge.db.database import needed
from songforge.db.keyed_read import KeyedRead
from songforge.db.prepared import PreparedRow
from songforge.db.tables import tasks
from songforge.services.caches import RefreshClaims
from songforge.services.task_records import TaskRecord, TaskStage, TaskStatus, record_from_row

SNAPSHOT_TTL_SECONDS = 1.0

Key = tuple[int, datetime]

_QUEUED = and_(
    tasks.c.status == TaskStatus.IN_PROGRESS,
    tasks.c.stage == TaskStage.QUEUED,
    tasks.c.model == bindparam("model"),
)


def _ahead_of(prefix: str) -> ColumnElement[bool]:
    """(priority, created_at) < the bound key named ``prefix``."""
    priority: BindParameter[int] = bindparam(f"{prefix}_priority")
    created = bindparam(f"{prefix}_created", type_=tasks.c.created_at.type)
    return or_(
        tasks.c.priority < priority,
        and_(tasks.c.priority == priority, tasks.c.created_at < created),
    )


def _after(prefix: str) -> ColumnElement[bool]:
    """(priority, created_at) > the bound key named ``prefix``."""
    priority: BindParameter[int] = bindparam(f"{prefix}_priority")
    created = bindparam(f"{prefix}_created", type_=tasks.c.created_at.type)
    return or_(
        tasks.c.priority > priority,
        and_(tasks.c.priority == priority, tasks.c.created_at > created),
    )


# Built once: every poll of a queued task runs the head probe. All of them walk
# ix_tasks_queue (status, stage, model, priority, created_at).
_ORDER = (tasks.c.priority, tasks.c.created_at)
_HEAD = select(*_ORDER).where(_QUEUED).order_by(*_ORDER).limit(1)
_SNAPSHOT = select(*_ORDER).where(_QUEUED).order_by(*_ORDER)
_AHEAD = select(func.count()).select_from(tasks).where(_QUEUED, _ahead_of("task"))
_NEWER_AHEAD = (
    select(func.count()).select_from(tasks).where(_QUEUED, _ahead_of("task"), _after("last"))
)


_HEAD_ROW = tasks.alias("head")


def _head_of_task_model(column: ColumnElement[Any]) -> ScalarSelect[Any]:
    head = _HEAD_ROW
    return (
        select(column)
        .where(
            head.c.status == TaskStatus.IN_PROGRESS,
            head.c.stage == TaskStage.QUEUED,
            head.c.model == tasks.c.model,
        )
        .order_by(head.c.priority, head.c.created_at)
        .limit(1)
        .scalar_subquery()
    )


# A poll's one statement: a task by id (parameter ``key``; the caller checks that
# the task is its own) and the head of its model's queue. Run on the driver's own
# cursor (db/prepared.py), and on PostgreSQL for every poll waiting at the same time
# at once (db/keyed_read.py, Database.read_by_key): it is the hottest read there is.
# A row read again unchanged is not decoded again (a queued task's row changes when
# it moves; clients poll it every second or so). 1,024 rows of up to a few KB each.
TASK_AND_HEAD = KeyedRead(
    select(
        tasks,
        _head_of_task_model(_HEAD_ROW.c.priority).label("queue_head_priority"),
        _head_of_task_model(_HEAD_ROW.c.created_at).label("queue_head_created_at"),
    ),
    tasks.c.id,
    remember=1024,
)


@dataclass(frozen=True)
class QueueHead:
    """The first queued task of a model when a task was read (None: none queued)."""

    key: Key | None


def task_and_head_from_row(row: PreparedRow) -> tuple[TaskRecord, QueueHead]:
    """The task and its queue's head from a row of TASK_AND_HEAD."""
    if row.built is None:  # else: the same row was read before (PreparedRead's memory)
        priority, created = row.queue_head_priority, row.queue_head_created_at
        head = QueueHead(None if priority is None else (int(priority), created))
        row.built = (record_from_row(row), head)
    built: tuple[TaskRecord, QueueHead] = row.built
    return built


def exact_queue_position(conn: Connection, task: TaskRecord) -> int:
    """1 = next to be picked up by a worker of this model (counts the tasks ahead)."""
    ahead = conn.execute(_AHEAD, {"model": task.model, **_bind("task", _key(task))}).scalar_one()
    return int(ahead) + 1


def _key(task: TaskRecord) -> Key:
    return (task.priority, task.created_at)


def _bind(prefix: str, key: Key) -> dict[str, object]:
    return {f"{prefix}_priority": key[0], f"{prefix}_created": key[1]}


@dataclass(frozen=True)
class _Snapshot:
    taken_at: float
    keys: list[Key]

    def rank(self, key: Key) -> int:
        return bisect_left(self.keys, key)

    def holds(self, key: Key) -> bool:
        index = self.rank(key)
        return index < len(self.keys) and self.keys[index] == key


class QueuePositions:
    """Per-process queue positions (see the module's docstring); thread-safe."""

    def __init__(
        self,
        ttl: float = SNAPSHOT_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshots: dict[str, _Snapshot] = {}
        self._claims = RefreshClaims(clock=clock)
        # How many snapshots were read (for tests: the backlog is read rarely).
        self.refreshes = 0

    def position(
        self, conn: Connection | None, task: TaskRecord, head: QueueHead | None = None
    ) -> int:
        """1 = next to be picked up by a worker of ``task``'s model.

        ``head``: the queue's head read with the task (TASK_AND_HEAD), else it is
        read here. ``conn`` None: answer from the snapshot or raise
        ``ConnectionNeeded``.
        """
        if head is None:
            head_row = needed(conn).execute(_HEAD, {"model": task.model}).first()
            head = QueueHead(None if head_row is None else (int(head_row[0]), head_row[1]))
        if head.key is None:
            # The queue emptied since the task was read (it was just claimed).
            return exact_queue_position(needed(conn), task)
        return self._position(conn, task, head.key)

    def _position(self, conn: Connection | None, task: TaskRecord, head: Key) -> int:
        snapshot = self._snapshots.get(task.model)
        if snapshot is None or not snapshot.holds(head) or self._refresh_due(conn, snapshot, task):
            snapshot = self._refresh(needed(conn), task.model)
        if not snapshot.holds(head):
            # Raced with a claim or a requeue between the two reads: count.
            return exact_queue_position(needed(conn), task)
        mine = _key(task)
        if snapshot.keys and mine <= snapshot.keys[-1]:
            return snapshot.rank(mine) - snapshot.rank(head) + 1
        # Newer than the snapshot: its queued tasks from the head on, then the
        # ones queued after the snapshot and ahead of this one.
        newer = (
            needed(conn)
            .execute(
                _NEWER_AHEAD,
                {"model": task.model, **_bind("task", mine), **_bind("last", snapshot.keys[-1])},
            )
            .scalar_one()
        )
        return len(snapshot.keys) - snapshot.rank(head) + int(newer) + 1

    def _refresh_due(self, conn: Connection | None, snapshot: _Snapshot, task: TaskRecord) -> bool:
        if self._clock() - snapshot.taken_at <= self._ttl:
            return False
        # With a connection at hand, refresh. On the event loop, the caller that
        # claims the refresh goes for it (ConnectionNeeded: the thread pool) and the
        # others answer from this snapshot meanwhile.
        return conn is not None or self._claims.claim(task.model)

    def _refresh(self, conn: Connection, model: str) -> _Snapshot:
        try:
            rows = conn.execute(_SNAPSHOT, {"model": model}).all()
        finally:
            self._claims.release(model)
        snapshot = _Snapshot(self._clock(), [(int(p), c) for p, c in rows])
        with self._lock:
            self._snapshots[model] = snapshot
            self.refreshes += 1
        return snapshot
