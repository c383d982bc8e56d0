"""Keeps a claimed task's lease alive while the engine runs, and carries progress.

The engine runs in the worker's main thread; this keeper's thread extends the
lease every few seconds and writes the latest progress with it (one write per
heartbeat, however often the engine reports). When an extension fails — the
task was cancelled or reaped — the next progress report raises ``TaskAbandoned``
so the engine stops early instead of finishing work nobody will keep.

With each beat it also writes when the task should be done, from its
``RemainingTime`` estimate (services/remaining_time.py), which the API turns
into ``eta_seconds``.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from types import TracebackType

from sqlalchemy.exc import DBAPIError

from songforge.db.database import Database
from songforge.db.types import utcnow
from songforge.services.queue import Claim, heartbeat
from songforge.services.remaining_time import RemainingTime
from songforge.services.task_records import TaskStage

log = logging.getLogger("songforge.worker")

# Engine progress (0..1) maps into this span of the task's 0-100; encoding and
# storing take the rest.
GENERATING_SPAN = (1, 90)


class TaskAbandoned(Exception):
    """The lease is gone; stop working on this attempt."""


def log_failed_heartbeat(claim: Claim, exc: Exception) -> None:
    """Say that a heartbeat failed (it is retried): which task, and the driver's words.

    Only the driver's message of a database error: SQLAlchemy's own text adds the
    statement and its parameters, which carry what the client sent.
    """
    reason = exc.orig if isinstance(exc, DBAPIError) else exc
    log.warning(
        "task %s attempt %d: heartbeat failed, retrying next beat: %s: %s",
        claim.task.id,
        claim.attempt,
        type(exc).__name__,
        reason,
    )


class LeaseKeeper:
    def __init__(
        self,
        db: Database,
        claim: Claim,
        lease: timedelta,
        interval: float,
        remaining: RemainingTime | None = None,
    ) -> None:
        self._db = db
        self.remaining = remaining
        self._claim = claim
        self._lease = lease
        self._interval = interval
        self._lock = threading.Lock()
        self._stage = TaskStage.GENERATING
        self._progress = GENERATING_SPAN[0]
        self._detail: str | None = None
        self._dirty = True
        self._stop = threading.Event()
        self.lost = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        # At once: the first ETA should not wait a whole heartbeat.
        self.beat()
        while not self._stop.wait(self._interval):
            self.beat()

    def beat(self) -> bool:
        """Extend the lease now, with the latest progress; False when it is lost."""
        with self._lock:
            stage, progress, detail, dirty = self._stage, self._progress, self._detail, self._dirty
            self._dirty = False
        kwargs = {"stage": stage, "progress": progress, "stage_detail": detail} if dirty else {}
        finish = None
        if self.remaining is not None:
            with self._lock:
                left = self.remaining.seconds()
            finish = utcnow() + timedelta(seconds=left)
        try:
            alive = heartbeat(
                self._db,
                self._claim,
                self._lease,
                expected_finish_at=finish,
                **kwargs,  # type: ignore[arg-type]
            )
        except Exception as exc:
            # A database hiccup is not a lost lease; try again next beat, with
            # the progress this beat did not write.
            log_failed_heartbeat(self._claim, exc)
            if dirty:
                with self._lock:
                    self._dirty = True
            return True
        if not alive:
            self.lost.set()
        return alive

    def engine_progress(self, detail: str, fraction: float) -> None:
        """The callback handed to the engine."""
        if self.lost.is_set():
            raise TaskAbandoned()
        low, high = GENERATING_SPAN
        value = low + int(max(0.0, min(1.0, fraction)) * (high - low))
        with self._lock:
            self._progress, self._detail, self._dirty = value, detail, True
            if self.remaining is not None:
                self.remaining.engine_progress(detail, fraction)

    def enter_stage(
        self, stage: TaskStage, progress: int, audio_seconds: float | None = None
    ) -> None:
        """Move to a worker stage (encoding) and record it at once.

        ``audio_seconds``: the song's real length, known once the engine is done.
        """
        if self.lost.is_set():
            raise TaskAbandoned()
        with self._lock:
            self._stage, self._progress, self._detail, self._dirty = stage, progress, None, True
            if self.remaining is not None and audio_seconds is not None:
                self.remaining.encoding(audio_seconds)
        if not self.beat():
            raise TaskAbandoned()
