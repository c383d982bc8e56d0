"""Deletes finished songs' audio once the retention period has passed.

Driven by the database, not by listing the bucket: a completed task whose
``finished_at`` is older than the period loses every object under its
``<task id>/`` prefix (all attempts, the dashboard's waveform), then its
``storage_key`` is cleared. The task row stays (history, billing); its view then
shows ``audio_url: null``. Deleting before clearing means a crash in between
leaves no orphan: the next sweep finds the task again. Every worker runs a
sweeper; they may overlap harmlessly (deletes and the fenced update are idempotent).
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import timedelta

from sqlalchemy import select, update

from songforge.db.database import Database
from songforge.db.tables import tasks
from songforge.db.types import utcnow
from songforge.services.task_records import TaskStatus
from songforge.storage.base import Storage

log = logging.getLogger("songforge.retention")


def sweep_expired_audio(
    db: Database, storage: Storage, older_than: timedelta, *, batch: int = 500
) -> int:
    """Delete the audio of up to ``batch`` songs finished before now - ``older_than``;
    returns how many songs lost their audio."""
    cutoff = utcnow() - older_than
    with db.read() as conn:
        rows = conn.execute(
            select(tasks.c.id, tasks.c.storage_key)
            .where(
                tasks.c.status == TaskStatus.COMPLETED,
                tasks.c.storage_key.is_not(None),
                tasks.c.finished_at < cutoff,
            )
            .order_by(tasks.c.finished_at)
            .limit(batch)
        ).all()
    swept = 0
    for task_id, key in rows:
        storage.delete_prefix(f"{task_id}/")
        with db.write() as conn:
            result = conn.execute(
                update(tasks)
                .where(tasks.c.id == task_id, tasks.c.storage_key == key)
                .values(storage_key=None)
            )
        swept += result.rowcount
    return swept


class RetentionSweeper:
    """A daemon thread that sweeps every ``interval`` seconds until stopped."""

    def __init__(
        self, db: Database, storage: Storage, retention: timedelta, interval: float
    ) -> None:
        self._db = db
        self._storage = storage
        self._retention = retention
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        # Spread the workers' sweeps out rather than all at once.
        delay = random.uniform(0.1, 1.0) * min(self._interval, 60.0)
        while not self._stop.wait(delay):
            delay = self._interval
            try:
                while not self._stop.is_set():
                    swept = sweep_expired_audio(self._db, self._storage, self._retention)
                    if swept:
                        log.info("retention: deleted the audio of %d songs", swept)
                    if swept < 500:
                        break
            except Exception:
                log.exception("retention sweep failed; trying again later")
