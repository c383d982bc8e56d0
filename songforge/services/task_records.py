"""The task record as the services see it, read from a ``tasks`` row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, select

from songforge.db.tables import tasks
from songforge.text_safety import scrub_value


class TaskStatus(StrEnum):
    """A task's status; the values are the contract's strings, stored as they are."""

    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "completed"
    FAILED = "failed"


class TaskStage(StrEnum):
    """Where an unfinished task is (``done`` once it finished, either way)."""

    QUEUED = "queued"
    GENERATING = "generating"
    ENCODING = "encoding"
    DONE = "done"


# For membership tests of untrusted strings (``"x" in TaskStatus`` raises before 3.12).
STATUSES: tuple[str, ...] = tuple(TaskStatus)


@dataclass(frozen=True)
class TaskRecord:
    id: str
    account_id: str
    api_key_id: str | None
    model: str
    input: dict[str, Any]
    status: str
    stage: str
    progress: int
    stage_detail: str | None
    priority: int
    attempt: int
    max_attempts: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    price: int
    credits_held: int
    credits_charged: int
    credits_refunded: int
    error: dict[str, Any] | None
    output: dict[str, Any] | None
    storage_key: str | None
    expected_finish_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status != TaskStatus.IN_PROGRESS


def record_from_row(row: Any) -> TaskRecord:
    # Text is scrubbed on the way out: a row stored before the edge refused lone
    # surrogates must not make any answer (API, dashboard, worker) fail.
    m = row._mapping
    return TaskRecord(
        id=m["id"],
        account_id=m["account_id"],
        api_key_id=m["api_key_id"],
        model=m["model"],
        input=scrub_value(dict(m["input"])),
        status=m["status"],
        stage=m["stage"],
        progress=int(m["progress"]),
        stage_detail=scrub_value(m["stage_detail"]),
        priority=int(m["priority"]),
        attempt=int(m["attempt"]),
        max_attempts=int(m["max_attempts"]),
        lease_owner=m["lease_owner"],
        lease_expires_at=m["lease_expires_at"],
        created_at=m["created_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        price=int(m["price"]),
        credits_held=int(m["credits_held"]),
        credits_charged=int(m["credits_charged"]),
        credits_refunded=int(m["credits_refunded"]),
        error=scrub_value(dict(m["error"])) if m["error"] is not None else None,
        output=scrub_value(dict(m["output"])) if m["output"] is not None else None,
        storage_key=m["storage_key"],
        expected_finish_at=m.get("expected_finish_at"),
    )


def load_task(conn: Connection, task_id: str) -> TaskRecord | None:
    row = conn.execute(select(tasks).where(tasks.c.id == task_id)).first()
    return record_from_row(row) if row else None
