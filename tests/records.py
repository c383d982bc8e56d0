"""A TaskRecord for unit tests that need one without a database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from songforge.services.task_records import TaskRecord, TaskStage, TaskStatus

MOMENT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def task_record(**overrides: Any) -> TaskRecord:
    """A queued task of model "m" (any field can be given)."""
    values: dict[str, Any] = {
        "id": "tsk_x",
        "account_id": "acc",
        "api_key_id": None,
        "model": "m",
        "input": {},
        "status": TaskStatus.IN_PROGRESS,
        "stage": TaskStage.QUEUED,
        "progress": 0,
        "stage_detail": None,
        "priority": 100,
        "attempt": 1,
        "max_attempts": 3,
        "lease_owner": None,
        "lease_expires_at": None,
        "created_at": MOMENT,
        "started_at": None,
        "finished_at": None,
        "price": 30,
        "credits_held": 30,
        "credits_charged": 0,
        "credits_refunded": 0,
        "error": None,
        "output": None,
        "storage_key": None,
    }
    values.update(overrides)
    return TaskRecord(**values)
