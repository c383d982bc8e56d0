"""What an operator alerts on, read from the database at scrape time (GET /metrics).

Read from the database, not counted in this process: workers are other processes
(often other machines), so only the database sees every task. Outcomes and the
engine's speed cover the last hour, which keeps each scrape to an indexed range.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from songforge.db.tables import accounts, tasks
from songforge.db.types import utcnow
from songforge.services.task_records import TaskStage, TaskStatus
from songforge.services.workers import live_upstream_metrics
from songforge.text_safety import scrub_surrogates

RECENT = timedelta(hours=1)
# Enough finished runs per scrape to measure the engine's speed.
SPEED_SAMPLE_ROWS = 2000


@dataclass
class OperatorFigures:
    # (model, status, stage) -> count, for every unfinished task
    tasks: dict[tuple[str, str, str], int] = field(default_factory=dict)
    live_workers: dict[str, int] = field(default_factory=dict)
    queue_depth: dict[str, int] = field(default_factory=dict)
    oldest_queued_seconds: dict[str, float] = field(default_factory=dict)
    # (model, status, error type or "") -> tasks finished in the last hour
    outcomes: dict[tuple[str, str, str], int] = field(default_factory=dict)
    # model -> wall seconds of a run (engine and encoding) per second of audio made
    seconds_per_audio_second: dict[str, float] = field(default_factory=dict)
    holds_outstanding: int = 0
    credits_held: int = 0
    # worker id -> a live relay worker's upstream metrics (RelayDispatcher.upstream_metrics)
    upstream: dict[str, dict[str, Any]] = field(default_factory=dict)


def read_figures(context: Any) -> OperatorFigures:
    """``context`` is the AppContext (typed loosely: songforge.context imports metrics)."""
    figures = OperatorFigures(live_workers=context.live_workers())
    now = utcnow()
    since = now - RECENT
    with context.db.read() as conn:
        for model, status, stage, count in conn.execute(
            select(tasks.c.model, tasks.c.status, tasks.c.stage, func.count())
            .where(tasks.c.status == TaskStatus.IN_PROGRESS)
            .group_by(tasks.c.model, tasks.c.status, tasks.c.stage)
        ):
            figures.tasks[(model, status, stage)] = int(count)
        for model, count, oldest in conn.execute(
            select(tasks.c.model, func.count(), func.min(tasks.c.created_at))
            .where(tasks.c.status == TaskStatus.IN_PROGRESS, tasks.c.stage == TaskStage.QUEUED)
            .group_by(tasks.c.model)
        ):
            figures.queue_depth[model] = int(count)
            if oldest is not None:
                figures.oldest_queued_seconds[model] = max(0.0, (now - oldest).total_seconds())
        for model, count in conn.execute(
            select(tasks.c.model, func.count())
            .where(tasks.c.status == TaskStatus.COMPLETED, tasks.c.finished_at >= since)
            .group_by(tasks.c.model)
        ):
            figures.outcomes[(model, TaskStatus.COMPLETED, "")] = int(count)
        # Error types are read in Python, not with SQL JSON operators: PostgreSQL's
        # parse the whole document, and one old row with a lone surrogate escape in
        # its message would make every scrape fail.
        for model, error in conn.execute(
            select(tasks.c.model, tasks.c.error).where(
                tasks.c.status == TaskStatus.FAILED, tasks.c.finished_at >= since
            )
        ):
            kind = error.get("type") if isinstance(error, dict) else None
            key = (
                model,
                TaskStatus.FAILED,
                scrub_surrogates(kind) if isinstance(kind, str) else "",
            )
            figures.outcomes[key] = figures.outcomes.get(key, 0) + 1
        run: dict[str, float] = {}
        audio: dict[str, float] = {}
        for model, started, finished, output in conn.execute(
            select(tasks.c.model, tasks.c.started_at, tasks.c.finished_at, tasks.c.output)
            .where(
                tasks.c.status == TaskStatus.COMPLETED,
                tasks.c.finished_at >= since,
                tasks.c.started_at.is_not(None),
            )
            .limit(SPEED_SAMPLE_ROWS)
        ):
            seconds = output.get("duration_seconds") if isinstance(output, dict) else None
            if not isinstance(seconds, int | float) or seconds <= 0 or finished is None:
                continue
            run[model] = run.get(model, 0.0) + (finished - started).total_seconds()
            audio[model] = audio.get(model, 0.0) + float(seconds)
        figures.seconds_per_audio_second = {m: run[m] / audio[m] for m in run}
        # Holds of unfinished tasks, and what the accounts say is held: the two must
        # agree; a difference is a ledger fault worth an alert.
        figures.holds_outstanding = int(
            conn.execute(
                select(func.count()).where(
                    tasks.c.status == TaskStatus.IN_PROGRESS, tasks.c.credits_held > 0
                )
            ).scalar_one()
        )
        figures.credits_held = int(
            conn.execute(select(func.coalesce(func.sum(accounts.c.held), 0))).scalar_one()
        )
        figures.upstream = live_upstream_metrics(conn, context.worker_freshness)
    return figures
