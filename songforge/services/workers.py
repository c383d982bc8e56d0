"""Worker presence: each worker process heartbeats a row; a model is live while a
fresh row lists it. This is what makes "only live models are listed" true
across machines, not just inside one process."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import Connection, insert, select, update

from songforge.db.database import Database
from songforge.db.tables import workers
from songforge.db.types import utcnow


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


def touch_worker(db: Database, worker_id: str) -> None:
    with db.write() as conn:
        conn.execute(update(workers).where(workers.c.id == worker_id).values(last_seen_at=utcnow()))


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
