"""Task history: the list with filters, one task's page, its waveform, cancelling."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from songforge.api.error_handlers import api_error_for
from songforge.api.task_view import task_view
from songforge.context import AppContext
from songforge.dashboard.waveform import waveform_svg
from songforge.dashboard.web import (
    CheckedForm,
    CurrentUser,
    PageError,
    api_error_for_page,
    context_of,
    render,
    see_other,
)
from songforge.services import billing
from songforge.services.errors import DomainError
from songforge.services.task_progress import task_progress
from songforge.services.task_records import STATUSES, TaskRecord, TaskStatus
from songforge.services.tasks import cancel_task, get_task_for, list_tasks

router = APIRouter()

PAGE_SIZE = 20


def base_url(context: AppContext, request: Request) -> str:
    # The same rule as the public API, so links in both are the same links.
    return context.settings.public_url or str(request.base_url)


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 1)


def task_entry(
    conn: Connection,
    context: AppContext,
    request: Request,
    task: TaskRecord,
    live_workers: dict[str, int],
) -> dict[str, Any]:
    """The public TASK object plus what a person reading the history wants to see."""
    progress = task_progress(
        conn,
        task,
        catalog=context.catalog,
        live_workers=live_workers,
        positions=context.queue_positions,
    )
    view = task_view(task, progress, signer=context.signer, base_url=base_url(context, request))
    return {
        "view": view,
        "record": task,
        "waited_seconds": _seconds_between(task.created_at, task.started_at),
        "ran_seconds": _seconds_between(task.started_at, task.finished_at),
        "total_seconds": _seconds_between(task.created_at, task.finished_at),
        "has_audio": task.status == TaskStatus.COMPLETED and task.storage_key is not None,
    }


@router.get("/dashboard/tasks")
def history(
    request: Request,
    user: CurrentUser,
    status: str = "",
    model: str = "",
    cursor: str = "",
) -> Response:
    context = context_of(request)
    status_filter = status if status in STATUSES else None
    model_filter = model if context.catalog.get(model) is not None else None
    try:
        with context.db.read() as conn:
            page = list_tasks(
                conn,
                user.account.id,
                status=status_filter,
                model=model_filter,
                limit=PAGE_SIZE,
                cursor=cursor or None,
            )
            live = context.live_workers() if any(not t.finished for t in page.items) else {}
            entries = [task_entry(conn, context, request, task, live) for task in page.items]
    except DomainError as exc:
        raise api_error_for_page(api_error_for(exc)) from exc
    return render(
        request,
        "tasks.html",
        title="Task history",
        entries=entries,
        statuses=STATUSES,
        models=[spec.id for spec in context.catalog],
        status_filter=status_filter or "",
        model_filter=model_filter or "",
        next_cursor=page.next_cursor,
        filtered=bool(status_filter or model_filter),
    )


def _own_task(context: AppContext, account_id: str, task_id: str) -> TaskRecord:
    with context.db.read() as conn:
        task = get_task_for(conn, account_id, task_id)
    if task is None:
        # The same answer whether the task is someone else's or does not exist.
        raise PageError(
            404,
            "Task not found",
            f"You have no task {task_id!r}.",
            link=("/dashboard/tasks", "Your task history"),
        )
    return task


@router.get("/dashboard/tasks/{task_id}")
def task_page(task_id: str, request: Request, user: CurrentUser) -> Response:
    context = context_of(request)
    task = _own_task(context, user.account.id, task_id)
    live = context.live_workers() if not task.finished else {}
    with context.db.read() as conn:
        entry = task_entry(conn, context, request, task, live)
        # How the price added up (stems, lossless: issue 14), as the hold recorded it.
        holds = [e.note for e in billing.ledger_for_task(conn, task.id) if e.kind == "hold"]
    return render(
        request,
        "task.html",
        title=f"Task {task.id}",
        entry=entry,
        price_note=holds[0] if holds else "",
    )


@router.get("/dashboard/tasks/{task_id}/waveform.svg")
def waveform(task_id: str, request: Request, user: CurrentUser) -> Response:
    context = context_of(request)
    task = _own_task(context, user.account.id, task_id)
    if task.status != TaskStatus.COMPLETED or task.storage_key is None:
        raise PageError(404, "No audio yet", "This task has no finished audio.")
    svg = waveform_svg(context.storage, task.storage_key, title=f"Waveform of task {task.id}")
    return Response(
        svg,
        media_type="image/svg+xml",
        headers={
            "Cache-Control": "private, max-age=86400",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/dashboard/tasks/{task_id}/cancel")
def cancel(task_id: str, request: Request, user: CurrentUser, form: CheckedForm) -> Response:
    context = context_of(request)
    try:
        task = cancel_task(context.db, user.account.id, task_id)
    except DomainError as exc:
        raise api_error_for_page(api_error_for(exc)) from exc
    if task is None:
        raise PageError(404, "Task not found", f"You have no task {task_id!r}.")
    return see_other(f"/dashboard/tasks/{task.id}")
