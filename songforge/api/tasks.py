"""Task routes: poll, list, cancel."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import Connection
from starlette.routing import Route

from songforge.api.deps import (
    AuthenticatedCaller,
    Caller,
    authenticate_caller,
    encode_answer,
    get_context,
    json_body_response,
    request_base_url,
)
from songforge.api.envelope import success
from songforge.api.task_view import task_view
from songforge.context import AppContext
from songforge.db.database import ConnectionNeeded
from songforge.errors import invalid, not_found
from songforge.services.queue_positions import TASK_AND_HEAD, QueueHead, task_and_head_from_row
from songforge.services.task_progress import Progress, task_progress
from songforge.services.task_records import STATUSES, TaskRecord
from songforge.services.tasks import cancel_task, list_tasks
from songforge.services.workers import Startup

router = APIRouter()

# ASCII digits only: str.isdigit() is also true for "²", which int() refuses.
_LIMIT = re.compile(r"^[0-9]{1,3}$")
# Our cursors are ~110 URL-safe base64 characters; anything longer is not one of
# them, and a short bound keeps whatever it decodes to small (no deep nesting).
_CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def base_url(context: AppContext, request: Request) -> str:
    return context.settings.public_url or request_base_url(request)


def _progress(
    context: AppContext,
    conn: Connection | None,
    task: TaskRecord,
    live: Mapping[str, int],
    starting: Mapping[str, Startup],
    head: QueueHead | None = None,
) -> Progress:
    return task_progress(
        conn,
        task,
        catalog=context.catalog,
        live_workers=live,
        run_seconds=context.recent_run_seconds,
        starting=starting,
        positions=context.queue_positions,
        head=head,
    )


def _views(
    context: AppContext, url: str, conn: Connection | None, tasks: list[TaskRecord]
) -> list[dict[str, Any]]:
    """TASK objects."""
    unfinished = any(not t.finished for t in tasks)
    live = context.live_workers() if unfinished else {}
    starting = context.starting_workers() if unfinished else {}
    return [
        task_view(
            task,
            _progress(context, conn, task, live, starting),
            signer=context.signer,
            base_url=url,
        )
        for task in tasks
    ]


def _view(context: AppContext, request: Request, tasks: list[TaskRecord]) -> list[dict[str, Any]]:
    with context.db.read() as conn:
        return _views(context, base_url(context, request), conn, tasks)


def _kept_answer(context: AppContext, variant: str, caller: Caller, task_id: str) -> bytes | None:
    """A finished task's answer as already rendered, if it is kept (no database)."""
    kept = context.finished_tasks.answer(task_id, variant)
    if kept is not None and kept[0].account_id == caller.account_id:
        return kept[1]
    return None


def _variant(context: AppContext, url: str) -> str:
    # A finished task never changes, and its links stay the same for the rest of
    # this minute (LinkSigner.expiry): one rendering serves every poll meanwhile.
    return f"{url} {context.signer.expiry()}"


def _render_polled(
    context: AppContext, url: str, variant: str, task: TaskRecord, head: QueueHead | None
) -> bytes:
    """The encoded TASK answer. Queue position and ETA come from the per-process
    caches when they can, else one more read; a finished task's answer is kept."""
    try:
        body = _polled_answer(context, url, variant, None, task, head)
    except ConnectionNeeded:
        # Runs in the thread pool on PostgreSQL (Database.call).
        with context.db.read_now() as conn:
            body = _polled_answer(context, url, variant, conn, task, head)
    context.finished_tasks.keep_answer(task, variant, body)
    return body


def _polled_answer(
    context: AppContext,
    url: str,
    variant: str,
    conn: Connection | None,
    task: TaskRecord,
    head: QueueHead | None,
) -> bytes:
    """``task``'s answer; an unfinished one's is rendered again only when its row,
    its queue position or its ETA changed (clients poll far more often)."""
    if task.finished:
        return encode_answer(_views(context, url, conn, [task])[0])
    live, starting = context.live_workers(), context.starting_workers()
    progress = _progress(context, conn, task, live, starting, head)
    key = (variant, progress)
    body = context.unfinished_answers.get(task, key)
    if body is None:
        body = encode_answer(task_view(task, progress, signer=context.signer, base_url=url))
        context.unfinished_answers.keep(task, key, body)
    return body


async def get_task(request: Request) -> Response:
    # The most frequent call of all (clients poll it): async, and without the
    # thread pool on its usual paths: a finished task's kept answer needs no
    # database; any other task is one read awaited on the loop (read_by_key).
    context = get_context(request)
    task_id = request.path_params["task_id"]
    # Database.call: the key is in the cache, or read in the thread pool.
    caller = await context.db.call(
        authenticate_caller, context, request.headers.get("authorization")
    )
    url = base_url(context, request)
    variant = _variant(context, url)
    body = _kept_answer(context, variant, caller, task_id)
    if body is None:
        task = context.finished_tasks.get(task_id)
        head: QueueHead | None = None
        if task is None or task.account_id != caller.account_id:
            row = await context.db.read_by_key(TASK_AND_HEAD, task_id)
            if row is None or row.account_id != caller.account_id:
                raise not_found(f"No task {task_id!r}")
            task, head = task_and_head_from_row(row)
            context.finished_tasks.put(task)
        body = await context.db.call(_render_polled, context, url, variant, task, head)
    return json_body_response(body, caller.headers)


LIST_PARAMETERS = ("status", "model", "limit", "cursor")


@router.get("/api/v1/tasks")
def get_tasks(
    request: Request,
    caller: AuthenticatedCaller,
    status: str | None = Query(default=None),
    model: str | None = Query(default=None),
    limit: str | None = Query(default=None),
    cursor: str | None = Query(default=None),
) -> Any:
    context = get_context(request)
    # Like unknown body fields: a typo (?stauts=) must not pass silently.
    for name in request.query_params:
        if name not in LIST_PARAMETERS:
            raise invalid(f"Unknown query parameter {name!r}", name)
    if status is not None and status not in STATUSES:
        raise invalid(f"'status' must be one of {', '.join(STATUSES)}", "status")
    size = 20
    if limit is not None:
        if not _LIMIT.fullmatch(limit) or not 1 <= int(limit) <= 100:
            raise invalid("'limit' must be an integer from 1 to 100", "limit")
        size = int(limit)
    if cursor is not None and not _CURSOR.fullmatch(cursor):
        raise invalid("Invalid cursor; pass the next_cursor of a previous page", "cursor")
    with context.db.read() as conn:
        page = list_tasks(
            conn, caller.account_id, status=status, model=model, limit=size, cursor=cursor
        )
    return success({"items": _view(context, request, page.items), "next_cursor": page.next_cursor})


@router.post("/api/v1/tasks/{task_id}/cancel")
def cancel(task_id: str, request: Request, caller: AuthenticatedCaller) -> Any:
    context = get_context(request)
    task = cancel_task(context.db, caller.account_id, task_id)
    if task is None:
        raise not_found(f"No task {task_id!r}")
    return success(_view(context, request, [task])[0])


# See api/music.py: the poll route skips FastAPI's parameter machinery.
routes = [Route("/api/v1/tasks/{task_id}", get_task, methods=["GET"])]
