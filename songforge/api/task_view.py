"""The TASK object of api.md, shaped from a task record and its progress (no queries)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from songforge.api.file_links import with_extra_links
from songforge.services.task_progress import Progress
from songforge.services.task_records import TaskRecord, TaskStatus
from songforge.storage.signing import LinkSigner
from songforge.storage.task_files import extension_of


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def audio_link(
    signer: LinkSigner, base_url: str, task_id: str, extension: str = "mp3"
) -> tuple[str, str]:
    query, expires = signer.sign(task_id)
    url = f"{base_url.rstrip('/')}/api/v1/files/{task_id}.{extension}?{query}"
    return url, iso(datetime.fromtimestamp(expires, UTC)) or ""


def task_view(
    task: TaskRecord,
    progress: Progress,
    *,
    signer: LinkSigner,
    base_url: str,
) -> dict[str, Any]:
    """The TASK object; ``progress`` comes from services/task_progress.py."""
    output: dict[str, Any] | None = None
    if task.status == TaskStatus.COMPLETED and task.output is not None:
        if task.storage_key is not None:
            url, expires_at = audio_link(signer, base_url, task.id, extension_of(task.storage_key))
            output = {"audio_url": url, "expires_at": expires_at, **task.output}
        else:
            # The audio was deleted after the retention period; the facts remain.
            output = {"audio_url": None, "expires_at": None, **task.output}
        # Issue 14's stems and LRC file: links beside the song's.
        output = with_extra_links(output, signer, base_url, task.id, task.storage_key)

    return {
        "task_id": task.id,
        "model": task.model,
        "status": task.status,
        "stage": task.stage,
        "stage_detail": task.stage_detail,
        "progress": 100 if task.status == TaskStatus.COMPLETED else task.progress,
        "queue_position": progress.queue_position,
        "eta_seconds": progress.eta_seconds,
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
