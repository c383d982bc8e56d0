"""Worker presence: each worker process heartbeats a row; a model is live while a
fresh row lists it. This is what makes "only live models are listed" true
across machines, not just inside one process."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from songforge.db.database import Database
from songforge.db.tables import tasks, workers
from songforge.db.types import utcnow
from songforge.services.task_records import TaskStage, TaskStatus, record_from_row
from songforge.services.tasks import fail_task


@dataclass(frozen=True)
class Startup:
    """This server's worker processes that are still loading one model's engine."""

    workers: int
    # Seconds until the first of them should be ready (at least 1).
    seconds_left: float


def worker_freshness(heartbeat_seconds: float) -> timedelta:
    # A worker that missed three heartbeats is presumed gone.
    return timedelta(seconds=max(3 * heartbeat_seconds, 10.0))


def register_worker(db: Database, worker_id: str, models: Sequence[str]) -> None:
    now = utcnow()
    with db.write() as conn:
        conn.execute(
            insert(workers).values(
                id=worker_id,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                models=list(models),
                started_at=now,
                last_seen_at=now,
            )
        )


def touch_worker(
    db: Database, worker_id: str, upstream_metrics: dict[str, Any] | None = None
) -> None:
    """The presence heartbeat; a relay worker's upstream metrics ride along."""
    values: dict[str, Any] = {"last_seen_at": utcnow()}
    if upstream_metrics is not None:
        values["upstream_metrics"] = upstream_metrics
    with db.write() as conn:
        conn.execute(update(workers).where(workers.c.id == worker_id).values(**values))


def live_upstream_metrics(conn: Connection, freshness: timedelta) -> dict[str, dict[str, Any]]:
    """Worker id -> the upstream metrics of each live relay worker."""
    oldest = utcnow() - freshness
    rows = conn.execute(
        select(workers.c.id, workers.c.upstream_metrics).where(
            workers.c.last_seen_at >= oldest,
            workers.c.stopped_at.is_(None),
            workers.c.upstream_metrics.is_not(None),
        )
    )
    return {worker_id: metrics for worker_id, metrics in rows if isinstance(metrics, dict)}


def stop_worker(db: Database, worker_id: str) -> None:
    with db.write() as conn:
        conn.execute(update(workers).where(workers.c.id == worker_id).values(stopped_at=utcnow()))


def live_worker_counts(conn: Connection, freshness: timedelta) -> dict[str, int]:
    """Model id -> number of workers seen within ``freshness`` that serve it."""
    oldest = utcnow() - freshness
    counts: dict[str, int] = {}
    rows = conn.execute(
        select(workers.c.models).where(
            workers.c.last_seen_at >= oldest, workers.c.stopped_at.is_(None)
        )
    )
    for (models,) in rows:
        for model in models:
            counts[model] = counts.get(model, 0) + 1
    return counts


def set_worker_models(db: Database, worker_id: str, models: Sequence[str]) -> None:
    """Change the models a running worker advertises (a remote engine whose upstream
    stopped answering is withdrawn, and comes back when it answers again)."""
    with db.write() as conn:
        conn.execute(
            update(workers)
            .where(workers.c.id == worker_id)
            .values(models=list(models), last_seen_at=utcnow())
        )


def models_seen_since(conn: Connection, since: datetime) -> set[str]:
    """Models some worker (running or since stopped) served at or after ``since``."""
    rows = conn.execute(select(workers.c.models).where(workers.c.last_seen_at >= since))
    return {model for (models,) in rows for model in models}


def registered_at(conn: Connection, hostname: str, pid: int, since: datetime) -> datetime | None:
    """When the worker process ``pid`` of ``hostname`` registered, if it did after ``since``
    (its engines are loaded then); None while it is still starting."""
    row = conn.execute(
        select(workers.c.started_at)
        .where(
            workers.c.hostname == hostname,
            workers.c.pid == pid,
            workers.c.started_at >= since,
        )
        .order_by(workers.c.started_at.desc())
        .limit(1)
    ).first()
    return row[0] if row is not None else None


def fail_unserved_queued_tasks(
    db: Database, model: str, created_since: datetime, error: dict[str, Any]
) -> int:
    """Fail (and refund) the model's queued tasks created since ``created_since``: for
    a model whose start-up ended without a worker, so that nothing waits forever."""
    failed = 0
    with db.write() as conn:
        rows = conn.execute(
            select(tasks).where(
                tasks.c.model == model,
                tasks.c.status == TaskStatus.IN_PROGRESS,
                tasks.c.stage == TaskStage.QUEUED,
                tasks.c.created_at >= created_since,
            )
        ).all()
        for row in rows:
            failed += fail_task(conn, record_from_row(row), error)
    return failed
