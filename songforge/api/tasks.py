"""Task routes: poll, list, cancel."""

from __future__ import annotations

import re
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
from songforge.errors import invalid, not_found
from songforge.services.queue_positions import QueueHead, task_and_queue_head
from songforge.services.task_progress import task_progress
from songforge.services.task_records import STATUSES, TaskRecord
from songforge.services.tasks import cancel_task, list_tasks

router = APIRouter()

# ASCII digits only: str.isdigit() is also true for "²", which int() refuses.
_LIMIT = re.compile(r"^[0-9]{1,3}$")
# Our cursors are ~110 URL-safe base64 characters; anything longer is not one of
# them, and a short bound keeps whatever it decodes to small (no deep nesting).
_CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def base_url(context: AppContext, request: Request) -> str:
    return context.settings.public_url or request_base_url(request)


def _views(
    context: AppContext,
    url: str,
    conn: Connection | None,
    tasks: list[TaskRecord],
    head: QueueHead | None = None,
) -> list[dict[str, Any]]:
    """TASK objects; ``head`` (one task only) is its queue's head, read with it."""
    unfinished = any(not t.finished for t in tasks)
    live = context.live_workers() if unfinished else {}
    starting = context.starting_workers() if unfinished else {}
    return [
        task_view(
            task,
            task_progress(
                conn,
                task,
                catalog=context.catalog,
                live_workers=live,
                run_seconds=context.recent_run_seconds,
                starting=starting,
                positions=context.queue_positions,
                head=head,
            ),
            signer=context.signer,
            base_url=url,
        )
        for task in tasks
    ]


def _view(context: AppContext, request: Request, tasks: list[TaskRecord]) -> list[dict[str, Any]]:
    with context.db.read() as conn:
        return _views(context, base_url(context, request), conn, tasks)


def _poll_view(context: AppContext, url: str, caller: Caller, task_id: str) -> bytes:
    """The encoded TASK answer of a poll; a finished task's is kept for the next."""
    variant = f"{url} {context.signer.expiry()}"
    kept = context.finished_tasks.answer(task_id, variant)
    if kept is not None and kept[0].account_id == caller.account_id:
        # A finished task never changes, and its links stay the same for this
        # minute (LinkSigner.expiry): the answer is already rendered.
        return kept[1]
    task = context.finished_tasks.get(task_id)
    if task is not None and task.account_id == caller.account_id:
        # Finished tasks never change: no database work (see services/caches.py).
        body = encode_answer(_views(context, url, None, [task])[0])
        context.finished_tasks.keep_answer(task, variant, body)
        return body
    # One task row, then its queue position and ETA: no snapshot across them
    # is needed, so no transaction around them either (Database.read_now).
    with context.db.read_now() as conn:
        found = task_and_queue_head(conn, caller.account_id, task_id)
        if found is None:
            raise not_found(f"No task {task_id!r}")
        task, head = found
        context.finished_tasks.put(task)
        return encode_answer(_views(context, url, conn, [task], head)[0])


async def get_task(request: Request) -> Response:
    # The most frequent call of all (clients poll it): async, with the database
    # work inline where it needs none or it is a local SQLite file (Database.call).
    # Two calls: the view may be rerun in the thread pool (Database.call), and
    # the key's rate must not be counted twice.
    context = get_context(request)
    task_id = request.path_params["task_id"]
    caller = await context.db.call(
        authenticate_caller, context, request.headers.get("authorization")
    )
    body = await context.db.call(_poll_view, context, base_url(context, request), caller, task_id)
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
