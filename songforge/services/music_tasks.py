"""Creating a music task: validate the request, check the model and the caller, queue it.

One use case shared by the public route (``api/music.py``, with the caller's key,
whose allow-list and credit cap apply) and the dashboard's tester (the signed-in
owner, no key). What it needs is handed in (``TaskCreation``), not reached for,
and what it refuses it raises as a ``services.errors`` kind: the caller decides
how a refusal is answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from songforge.catalog import FEATURE_FIELDS, Catalog
from songforge.db.database import Database
from songforge.db.group_commit import GroupCommit
from songforge.services.errors import InvalidField, ModelUnavailable, NotPermitted
from songforge.services.keys import ApiKey
from songforge.services.music_request import parse_music_request
from songforge.services.tasks import CreateResult, NewTask, create_task, request_fingerprint

# How long a client refused for a model without a live backend should wait.
MODEL_UNAVAILABLE_RETRY_SECONDS = 30


def _count_nothing(_model: str) -> None:
    pass


@dataclass(frozen=True)
class TaskCreation:
    """Everything creating a task depends on."""

    db: Database
    catalog: Catalog
    # Whether a create for this model id is queued now (a live or starting
    # worker, or one seen within the grace period).
    accepts_tasks_for: Callable[[str], bool]
    max_attempts: int
    max_concurrent: int
    # Told the model id of every task created (not of replays): the metrics.
    on_created: Callable[[str], None] = _count_nothing
    # Creates that arrive together are written in one transaction (async callers).
    together: GroupCommit[NewTask, CreateResult] | None = None
    # How long an Idempotency-Key replays its task; after that it starts a new one.
    idempotency_ttl: timedelta = timedelta(hours=24)


def new_music_task(deps: TaskCreation, account_id: str, key: ApiKey | None, body: Any) -> NewTask:
    """Validate a create body for ``account_id``: the task to queue, or a refusal.

    ``key`` is the caller's API key, or None for the account's owner (no key cap
    or allow-list applies). Nothing is written.
    """
    spec = None
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        spec = deps.catalog.get(body["model"])
    music = parse_music_request(
        body, max_duration=spec.max_duration_seconds if spec is not None else None
    )
    if spec is None:
        raise InvalidField(
            f"Unknown model {music.model!r}; GET /api/v1/models lists the available ones",
            "model",
        )
    # Issue 14: what the model cannot give is refused before anything is held.
    wanted = music.extensions
    unsupported = spec.unsupported(wanted)
    if unsupported:
        field = FEATURE_FIELDS[unsupported[0]]
        what = f"format {unsupported[0]!r}" if field == "format" else f"'{field}'"
        raise InvalidField(
            f"Model {spec.id!r} does not support {what}; GET /api/v1/models lists what "
            "each model supports",
            field,
        )
    if not deps.accepts_tasks_for(spec.id):
        raise ModelUnavailable(
            f"Model {spec.id!r} has no live backend right now; try again later",
            "model",
            retry_after_seconds=MODEL_UNAVAILABLE_RETRY_SECONDS,
        )
    if key is not None and not key.allows_model(spec.id):
        raise NotPermitted(f"This API key is not allowed to use model {spec.id!r}", "model")
    return NewTask(
        account_id=account_id,
        api_key_id=key.id if key is not None else None,
        model=spec.id,
        price=spec.price_for(wanted),
        price_note=spec.price_note(wanted),
        input=music.to_stored(),
        max_attempts=deps.max_attempts,
    )


def _queue(
    deps: TaskCreation, new: NewTask, body: Any, idempotency_key: str | None
) -> CreateResult:
    result = create_task(
        deps.db,
        new,
        max_concurrent=deps.max_concurrent,
        idempotency_key=idempotency_key,
        fingerprint=request_fingerprint(body) if idempotency_key else None,
        idempotency_ttl=deps.idempotency_ttl,
    )
    if not result.replayed:
        deps.on_created(new.model)
    return result


def create_music_task(
    deps: TaskCreation,
    account_id: str,
    key: ApiKey | None,
    body: Any,
    idempotency_key: str | None = None,
) -> CreateResult:
    """Validate a create body and queue the task for ``account_id`` (blocking)."""
    return _queue(deps, new_music_task(deps, account_id, key, body), body, idempotency_key)


async def create_music_task_together(
    deps: TaskCreation,
    account_id: str,
    key: ApiKey | None,
    body: Any,
    idempotency_key: str | None = None,
) -> CreateResult:
    """``create_music_task`` for async callers: without an Idempotency-Key the task
    joins the next group transaction with the other creates waiting
    (``deps.together``, db/group_commit.py and services/task_batches.py); with
    one, or without a group, it has a transaction of its own."""
    new = await deps.db.call(new_music_task, deps, account_id, key, body)
    if idempotency_key is not None or deps.together is None:
        return await deps.db.call(_queue, deps, new, body, idempotency_key)
    result = await deps.together.submit(new)
    deps.on_created(new.model)
    return result
