"""A worker process: load the engines it serves once, then run the worker loop.

Used by ``songforge worker`` (on any machine pointed at the same database) and
by ``songforge serve``, which starts a few of these as child processes so that
engine work never runs in the HTTP server's process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from songforge.catalog import Catalog, load_catalog
from songforge.db.database import Database
from songforge.engines.base import Engine, EngineUnavailable
from songforge.engines.registry import create_engine
from songforge.settings import Settings
from songforge.storage.factory import build_storage
from songforge.worker.runner import Worker

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


def _stop_when_parent_dies(stop: threading.Event) -> None:
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
        while not stop.wait(1.0):
            if os.getppid() != parent:
                log.warning("the serving process is gone; worker stops")
                stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run_worker_process(
    settings: Settings, models: Sequence[str], *, die_with_parent: bool = False
) -> int:
    """Entry point of a worker process; returns an exit code."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"
    )
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if die_with_parent:
        _stop_when_parent_dies(stop)

    catalog = load_catalog(settings.catalog_path)
    engines = load_engines(catalog, models)
    if not engines:
        log.error("no engine could be loaded for %s; worker exits", list(models) or "any model")
        return 1
    db = Database(settings.resolved_database_url(), pool_size=2)
    try:
        Worker(db, build_storage(settings), engines, settings).run(stop)
    finally:
        db.dispose()
    return 0
