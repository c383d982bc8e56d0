"""A worker process: load the engines it serves once, then run the worker loop.

Used by ``songforge worker`` (on any machine pointed at the same database) and
by ``songforge serve``, which starts a few of these as child processes so that
engine work never runs in the HTTP server's process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Sequence
from datetime import timedelta

from songforge.catalog import Catalog, load_catalog
from songforge.db.database import Database
from songforge.engines.base import Engine, EngineUnavailable
from songforge.engines.registry import create_engine
from songforge.services.queue import hand_back_tasks
from songforge.services.workers import stop_worker
from songforge.settings import Settings
from songforge.storage.factory import build_storage
from songforge.storage.retention import RetentionSweeper
from songforge.worker.runner import Worker
from songforge.worker.shutdown import GracefulShutdown

log = logging.getLogger("songforge.worker")

PR_SET_PDEATHSIG = 1


def load_engines(catalog: Catalog, models: Sequence[str]) -> dict[str, Engine]:
    """Build and load the engine of each model; models whose engine cannot run
    here are left out (and so never advertised as live)."""
    engines: dict[str, Engine] = {}
    wanted = list(models) or [spec.id for spec in catalog]
    for model_id in wanted:
        spec = catalog.get(model_id)
        if spec is None:
            log.error("model %r is not in the catalog", model_id)
            continue
        try:
            engine = create_engine(spec.engine, spec.options)
            engine.load()
        except EngineUnavailable as exc:
            log.warning("model %s is not served here: %s", model_id, exc)
            continue
        engines[model_id] = engine
        log.info("model %s ready on engine %s", model_id, engine.name)
    return engines


def freeze_startup_objects() -> None:
    """Take everything made so far (modules, engines, settings), which lives as long
    as the process, out of the garbage collector's passes.

    A full pass over it held the relay worker's loop for ~50 ms mid-burst
    (docs/benchmarks.md, relay third pass). After a collection, so no garbage is
    frozen. Only in a worker's own process: tests run ``Worker`` inside the test
    process, where frozen objects would never be collected.
    """
    gc.collect()
    gc.freeze()


def _stop_when_parent_dies(shutdown: GracefulShutdown) -> None:
    """For workers started by ``serve``: never outlive it, however it ends.

    The kernel sends SIGTERM when the parent dies (Linux), and a watcher thread
    covers other systems and the race where the parent died before prctl ran.
    """
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                shutdown.begin("the serving process is gone")
                return

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_worker_process(
    settings: Settings, models: Sequence[str], *, die_with_parent: bool = False
) -> int:
    """Entry point of a worker process; returns an exit code."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
    )
    stop = threading.Event()
    worker: Worker | None = None
    db: Database | None = None

    def hand_back_and_exit() -> None:
        # The grace period is over (or a second signal came) with a song in hand.
        if worker is not None and db is not None:
            try:
                handed = hand_back_tasks(db, worker.worker_id)
                log.warning("shutdown deadline: handed back %s to the queue", handed or "nothing")
                stop_worker(db, worker.worker_id)
            except Exception:
                # The lease will expire and the reaper will requeue the task instead.
                log.exception("could not hand tasks back; their leases will expire")
        logging.shutdown()
        os._exit(0)

    shutdown = GracefulShutdown(stop, settings.shutdown_grace_seconds, hand_back_and_exit)
    shutdown.install()
    if die_with_parent:
        _stop_when_parent_dies(shutdown)

    catalog = load_catalog(settings.catalog_path)
    engines = load_engines(catalog, models)
    if not engines:
        log.error("no engine could be loaded for %s; worker exits", list(models) or "any model")
        return 1
    db = Database(settings.resolved_database_url(), pool_size=2)
    storage = build_storage(settings)
    sweeper = None
    if settings.audio_retention_days > 0:
        sweeper = RetentionSweeper(
            db,
            storage,
            timedelta(days=settings.audio_retention_days),
            settings.retention_sweep_interval_seconds,
        )
        sweeper.start()
    try:
        worker = Worker(db, storage, engines, settings)
        freeze_startup_objects()
        worker.run(stop)
        shutdown.finished()
    finally:
        if sweeper is not None:
            sweeper.stop()
        db.dispose()
    return 0
