"""Task routes: poll, list, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response

from songforge.api.deps import (
    AuthenticatedCaller,
    Caller,
    authenticate_caller,
    get_context,
    json_response,
)
from songforge.api.envelope import success
from songforge.api.task_view import task_view
from songforge.context import AppContext
from songforge.errors import invalid, not_found
from songforge.services.task_records import STATUSES, TaskRecord
from songforge.services.tasks import cancel_task, get_task_for, list_tasks

router = APIRouter()


def base_url(context: AppContext, request: Request) -> str:
    return context.settings.public_url or str(request.base_url)


def _view(context: AppContext, request: Request, tasks: list[TaskRecord]) -> list[dict[str, Any]]:
    live = context.live_workers() if any(not t.finished for t in tasks) else {}
    with context.db.read() as conn:
        return [
            task_view(
                conn,
                task,
                catalog=context.catalog,
                signer=context.signer,
                base_url=base_url(context, request),
                live_workers=live,
            )
            for task in tasks
        ]


def _authenticate_and_view(
    context: AppContext, request: Request, task_id: str
) -> tuple[Caller, dict[str, Any]]:
    caller = authenticate_caller(context, request.headers.get("authorization"))
    with context.db.read() as conn:
        task = get_task_for(conn, caller.account_id, task_id)
    if task is None:
        raise not_found(f"No task {task_id!r}")
    return caller, _view(context, request, [task])[0]


@router.get("/api/v1/tasks/{task_id}")
async def get_task(task_id: str, request: Request) -> Response:
    # The most frequent call of all (clients poll it): async, with the database
    # work inline for SQLite (see Database.call) and one serialisation.
    context = get_context(request)
    caller, view = await context.db.call(_authenticate_and_view, context, request, task_id)
    return json_response(success(view), caller.headers)


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
    if status is not None and status not in STATUSES:
        raise invalid(f"'status' must be one of {', '.join(STATUSES)}", "status")
    size = 20
    if limit is not None:
        if not limit.isdigit() or not 1 <= int(limit) <= 100:
            raise invalid("'limit' must be an integer from 1 to 100", "limit")
        size = int(limit)
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
