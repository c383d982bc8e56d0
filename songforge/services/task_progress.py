"""Where an unfinished task stands: its queue position and an honest ETA.

The queries behind a TASK's ``queue_position`` and ``eta_seconds`` live here, so
the views (the API's TASK object, the dashboard's pages) only shape answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection

from songforge.catalog import Catalog
from songforge.db.database import needed
from songforge.services import eta
from songforge.services.queue_positions import QueueHead, QueuePositions, exact_queue_position
from songforge.services.task_records import TaskRecord, TaskStage
from songforge.services.workers import Startup

# The catalog's typical run time when a model is not in it any more.
FALLBACK_RUN_SECONDS = 30.0


def _read_run_seconds(conn: Connection | None, model: str) -> float | None:
    """The model's recent run time, read (no cache: needs the connection)."""
    return eta.recent_run_seconds(needed(conn), model)


@dataclass(frozen=True)
class Progress:
    queue_position: int | None
    eta_seconds: int | None


FINISHED = Progress(queue_position=None, eta_seconds=None)


def task_progress(
    conn: Connection | None,
    task: TaskRecord,
    *,
    catalog: Catalog,
    live_workers: Mapping[str, int],
    run_seconds: Callable[[Connection | None, str], float | None] = _read_run_seconds,
    starting: Mapping[str, Startup] | None = None,
    positions: QueuePositions | None = None,
    head: QueueHead | None = None,
) -> Progress:
    """The task's queue position (while queued) and ETA (while unfinished).

    A finished task needs no database (``conn`` may be None); an unfinished one
    may: given None, it is answered from caches (``positions``, a caching
    ``run_seconds``) or raises ``ConnectionNeeded``. ``positions`` answers from
    a per-process snapshot of the queue instead of counting the tasks ahead
    (services/queue_positions.py); ``head``, the queue's head read with the
    task, spares it a statement.
    """
    if task.finished:
        return FINISHED
    position: int | None = None
    if task.stage == TaskStage.QUEUED:
        if positions is not None:
            position = positions.position(conn, task, head)
        else:
            position = exact_queue_position(needed(conn), task)
    spec = catalog.get(task.model)
    typical = spec.typical_runtime_seconds if spec else FALLBACK_RUN_SECONDS
    recent = run_seconds(conn, task.model)
    workers = live_workers.get(task.model, 0)
    startup = (starting or {}).get(task.model) if workers == 0 else None
    eta_seconds = eta.estimate_seconds(
        task,
        position=position,
        run_seconds=recent if recent is not None else typical,
        live_workers=startup.workers if startup is not None else workers,
    )
    if eta_seconds is not None and startup is not None:
        # Its workers are still loading: they start on the queue only then.
        eta_seconds += round(startup.seconds_left)
    return Progress(queue_position=position, eta_seconds=eta_seconds)
