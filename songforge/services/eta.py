"""Queue position and an honest ETA, from the queue itself and recent run times.

A running task's ETA is its worker's expected finish time (written with every
heartbeat, see services/remaining_time.py); a queued one's comes from the
queue ahead of it and the model's recent run times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from songforge.db.tables import tasks
from songforge.db.types import utcnow
from songforge.services.task_records import TaskRecord, TaskStage, TaskStatus

RECENT_RUNS = 20


@dataclass(frozen=True)
class RecentRuns:
    """What the model's last completed runs here say about the next one."""

    # Mean wall time from start to finish.
    run_seconds: float
    # Mean wall seconds per second of song made (start to finish, encoding included).
    seconds_per_audio_second: float | None
    # Mean length of the songs made.
    audio_seconds: float | None


def recent_runs(conn: Connection, model: str) -> RecentRuns | None:
    """The model's last RECENT_RUNS completed runs, or None before the first."""
    rows = conn.execute(
        select(tasks.c.started_at, tasks.c.finished_at, tasks.c.output)
        .where(
            tasks.c.model == model,
            tasks.c.status == TaskStatus.COMPLETED,
            tasks.c.started_at.is_not(None),
        )
        .order_by(tasks.c.finished_at.desc())
        .limit(RECENT_RUNS)
    ).all()
    runs: list[float] = []
    lengths: list[float] = []
    rates: list[float] = []
    for started, finished, output in rows:
        if not (started and finished):
            continue
        seconds = (finished - started).total_seconds()
        runs.append(seconds)
        length = (output or {}).get("duration_seconds")
        if isinstance(length, int | float) and length > 0:
            lengths.append(float(length))
            rates.append(seconds / float(length))
    if not runs:
        return None
    return RecentRuns(
        run_seconds=sum(runs) / len(runs),
        seconds_per_audio_second=sum(rates) / len(rates) if rates else None,
        audio_seconds=sum(lengths) / len(lengths) if lengths else None,
    )


def recent_run_seconds(conn: Connection, model: str) -> float | None:
    """Mean wall time of the model's last completed runs, or None before the first."""
    runs = recent_runs(conn, model)
    return runs.run_seconds if runs else None


def estimate_seconds(
    task: TaskRecord,
    *,
    position: int | None,
    run_seconds: float,
    live_workers: int,
    now: datetime | None = None,
) -> int | None:
    """Seconds until the task should finish; None when no worker can take it."""
    if task.finished:
        return None
    if live_workers <= 0:
        return None
    now = now or utcnow()
    if task.stage == TaskStage.QUEUED:
        # Tasks ahead are spread over the live workers; ours runs after them.
        waves = ((position or 1) - 1) // live_workers
        return max(1, round((waves + 1) * run_seconds))
    if task.expected_finish_at is not None:
        # The worker's own estimate (planned length, stage, measured throughput),
        # renewed with every heartbeat; between beats it simply counts down.
        return max(1, round((task.expected_finish_at - now).total_seconds()))
    elapsed = (now - task.started_at).total_seconds() if task.started_at else 0.0
    return max(1, round(run_seconds - elapsed))
