"""Starts worker child processes for ``songforge serve``, restarts any that die, and
knows which of them are still starting (loading their engines).

A child is *starting* from its spawn until its presence row appears (it registers
once its engines are loaded). While one is, the API accepts and queues tasks for its
models instead of answering 503 (see ``AppContext.accepts_tasks_for``): the first
curl a user pastes, seconds after the server printed it, must make a song. A child
that exits before registering ends its slot's start-up; if no worker then serves a
model that was only starting, the tasks queued for it meanwhile fail with a refund.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from songforge.catalog import load_catalog
from songforge.db.database import Database
from songforge.db.types import utcnow
from songforge.services.workers import (
    Startup,
    fail_unserved_queued_tasks,
    live_worker_counts,
    models_seen_since,
    registered_at,
    worker_freshness,
)
from songforge.settings import Settings
from songforge.worker.process import run_worker_process

log = logging.getLogger("songforge.supervisor")

# How long a start-up is expected to take before one has been measured here (the
# composer loads in a few seconds; GPU engines take longer and are measured then).
DEFAULT_STARTUP_SECONDS = 10.0

MODEL_DID_NOT_START_ERROR = {
    "code": 503,
    "message": "No worker for this model came up; the task was not run and its credits "
    "were released",
    "type": "model_unavailable",
}


def _child(settings: Settings, models: list[str]) -> None:
    raise SystemExit(run_worker_process(settings, models, die_with_parent=True))


@dataclass
class _Slot:
    process: BaseProcess
    spawned_at: datetime
    # Set once the child's presence row appeared: its engines are loaded.
    registered: bool = False


class WorkerSupervisor:
    def __init__(
        self,
        settings: Settings,
        count: int,
        models: Sequence[str],
        db: Database | None = None,
    ) -> None:
        self._settings = settings
        self._count = count
        self._models = list(models)
        # Which models the children try to load: the named ones, or the whole catalog.
        self._wanted = self._models or [spec.id for spec in load_catalog(settings.catalog_path)]
        # Reads the presence rows (registration) and fails the tasks of models that
        # did not come up; without it no child counts as starting.
        self._db = db
        self._hostname = socket.gethostname()
        # spawn, not fork: the parent runs threads and an event loop.
        self._context = multiprocessing.get_context("spawn")
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()
        self._startup_seconds = DEFAULT_STARTUP_SECONDS
        self._started_at = utcnow()
        self._stop = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def _start_one(self) -> _Slot:
        process = self._context.Process(
            target=_child, args=(self._settings, self._models), name="songforge-worker"
        )
        spawned_at = utcnow()
        process.start()
        return _Slot(process, spawned_at)

    def start(self) -> None:
        self._started_at = utcnow()
        with self._lock:
            self._slots = [self._start_one() for _ in range(self._count)]
        self._monitor.start()

    @property
    def processes(self) -> list[BaseProcess]:
        with self._lock:
            return [slot.process for slot in self._slots]

    def starting(self) -> dict[str, Startup]:
        """Model id -> this server's workers still loading it (none: not in the result)."""
        if self._db is None:
            return {}
        with self._lock:
            slots = [s for s in self._slots if not s.registered and s.process.is_alive()]
            expected = self._startup_seconds
        if not slots:
            return {}
        now = utcnow()
        oldest = min(slot.spawned_at for slot in slots)
        left = max(1.0, expected - (now - oldest).total_seconds())
        return {model: Startup(len(slots), left) for model in self._wanted}

    def _check_registrations(self) -> bool:
        """Mark children whose presence row appeared; True when a start-up ended."""
        assert self._db is not None
        ended = False
        with self._lock:
            pending = [slot for slot in self._slots if not slot.registered]
        for slot in pending:
            pid = slot.process.pid
            if pid is None:
                continue
            # A second of slack: the row's clock and ours are the same, but rounding is not.
            since = slot.spawned_at - timedelta(seconds=1)
            with self._db.read() as conn:
                when = registered_at(conn, self._hostname, pid, since)
            if when is not None:
                ended = True
                with self._lock:
                    slot.registered = True
                    self._startup_seconds = max(1.0, (when - slot.spawned_at).total_seconds())
            elif not slot.process.is_alive():
                ended = True
        return ended

    def _fail_tasks_of_models_that_did_not_start(self) -> None:
        """After a start-up ended: the tasks queued for a model that no worker serves (and
        none served within the grace period) would wait forever; fail them, refunded."""
        assert self._db is not None
        if self.starting():
            return
        grace = timedelta(seconds=self._settings.worker_grace_seconds)
        with self._db.read() as conn:
            live = live_worker_counts(conn, worker_freshness(self._settings.heartbeat_seconds))
            seen = models_seen_since(conn, utcnow() - grace)
        for model in self._wanted:
            if live.get(model, 0) == 0 and model not in seen:
                failed = fail_unserved_queued_tasks(
                    self._db, model, self._started_at, MODEL_DID_NOT_START_ERROR
                )
                if failed:
                    log.warning(
                        "model %s: no worker came up; %d queued tasks failed and refunded",
                        model,
                        failed,
                    )

    def _watch(self) -> None:
        backoff = 1.0
        while not self._stop.wait(1.0):
            if self._db is not None:
                try:
                    if self._check_registrations():
                        self._fail_tasks_of_models_that_did_not_start()
                except Exception:
                    log.exception("checking the workers' start-up failed; retrying")
            with self._lock:
                slots = list(enumerate(self._slots))
            for index, slot in slots:
                if slot.process.is_alive() or self._stop.is_set():
                    continue
                log.warning(
                    "worker pid %s exited with %s; restarting",
                    slot.process.pid,
                    slot.process.exitcode,
                )
                time.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
                replacement = self._start_one()
                if not slot.registered:
                    # It died while starting: its replacement is not awaited (a model
                    # that cannot load must not keep the API accepting its tasks).
                    replacement.registered = True
                with self._lock:
                    self._slots[index] = replacement

    def begin_stop(self) -> None:
        """Ask every worker to stop (SIGTERM: each finishes or hands back its song)
        without waiting, so that their grace runs alongside the API's own drain."""
        self._stop.set()
        processes = self.processes
        for process in processes:
            if process.is_alive():
                process.terminate()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the workers and wait for them: their own grace period, plus a margin
        for the hand-back, then SIGKILL (the reaper recovers anything left)."""
        if timeout is None:
            timeout = self._settings.shutdown_grace_seconds + 10.0
        self.begin_stop()
        processes = self.processes
        deadline = time.monotonic() + timeout
        for process in processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


class DrainingServer(uvicorn.Server):
    """uvicorn, telling the worker children to stop as soon as the signal comes
    (uvicorn itself drains requests in flight before returning)."""

    def __init__(self, config: uvicorn.Config, supervisor: WorkerSupervisor | None) -> None:
        super().__init__(config)
        self._supervisor = supervisor

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._supervisor is not None:
            self._supervisor.begin_stop()
        super().handle_exit(sig, frame)

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        # Once drained, uvicorn raises the signal again to die by it; that would end
        # the process before the workers are waited for. Let it land on a no-op:
        # the caller stops the workers and returns normally (exit status 0).
        drained = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            super().run(sockets)
        finally:
            for sig, handler in drained.items():
                signal.signal(sig, handler)


def _ignore(_sig: int, _frame: FrameType | None) -> None:
    pass
