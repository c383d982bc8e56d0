"""The TASK object of api.md, built from a task record."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from songforge.catalog import Catalog
from songforge.services import eta
from songforge.services.task_records import TaskRecord, TaskStage, TaskStatus
from songforge.services.workers import Startup
from songforge.storage.signing import LinkSigner


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def audio_link(signer: LinkSigner, base_url: str, task_id: str) -> tuple[str, str]:
    query, expires = signer.sign(task_id)
    url = f"{base_url.rstrip('/')}/api/v1/files/{task_id}.mp3?{query}"
    return url, iso(datetime.fromtimestamp(expires, UTC)) or ""


def task_view(
    conn: Connection | None,
    task: TaskRecord,
    *,
    catalog: Catalog,
    signer: LinkSigner,
    base_url: str,
    live_workers: dict[str, int],
    run_seconds: Callable[[Connection, str], float | None] = eta.recent_run_seconds,
    starting: Mapping[str, Startup] | None = None,
) -> dict[str, Any]:
    position: int | None = None
    eta_seconds: int | None = None
    if not task.finished:
        # Only an unfinished task needs the database (queue position, ETA).
        assert conn is not None, "an unfinished task's view needs a connection"
        if task.stage == TaskStage.QUEUED:
            position = eta.queue_position(conn, task)
        spec = catalog.get(task.model)
        typical = spec.typical_runtime_seconds if spec else 30.0
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

    output: dict[str, Any] | None = None
    if task.status == TaskStatus.COMPLETED and task.output is not None:
        if task.storage_key is not None:
            url, expires_at = audio_link(signer, base_url, task.id)
            output = {"audio_url": url, "expires_at": expires_at, **task.output}
        else:
            # The audio was deleted after the retention period; the facts remain.
            output = {"audio_url": None, "expires_at": None, **task.output}

    return {
        "task_id": task.id,
        "model": task.model,
        "status": task.status,
        "stage": task.stage,
        "stage_detail": task.stage_detail,
        "progress": 100 if task.status == TaskStatus.COMPLETED else task.progress,
        "queue_position": position,
        "eta_seconds": eta_seconds,
        "attempt": task.attempt,
        "created_at": iso(task.created_at),
        "started_at": iso(task.started_at),
        "finished_at": iso(task.finished_at),
        "input": task.input,
        "output": output,
        "credits": {
            "price": task.price,
            "held": task.credits_held,
            "charged": task.credits_charged,
            "refunded": task.credits_refunded,
        },
        "error": task.error,
    }
